# Debian packages: `include packaging/deb.mk` from the Makefile.
#
#   make deb                        bin/dnsward_<version>_amd64.deb and _arm64.deb
#   make deb DEB_ARCHS=amd64        one architecture
#   make deb VERSION=0.2.0          another upstream version (default: packaging/VERSION)
#   make deb-test                   build, lint, install, upgrade, remove, purge (as root)

GO ?= go

# The upstream version is packaging/VERSION, or git's latest v-tag when that
# file is missing. VERSION given on the command line or in the environment
# wins; the Makefile's own VERSION (a git describe that may be a bare hash)
# is not a Debian version, so it is not used.
DEB_UPSTREAM_VERSION ?= $(if $(filter command% environment%,$(origin VERSION)),$(patsubst v%,%,$(VERSION)),$(shell cat packaging/VERSION 2>/dev/null || git describe --tags --abbrev=0 2>/dev/null | sed 's/^v//'))
# Bumped for a rebuild of the same upstream version with packaging changes.
DEB_REVISION ?= 1
DEB_VERSION ?= $(DEB_UPSTREAM_VERSION)-$(DEB_REVISION)
DEB_ARCHS ?= amd64 arm64
DEB_OUTDIR ?= bin

.PHONY: deb deb-test

deb:
	@test -n "$(DEB_UPSTREAM_VERSION)" || { echo "deb.mk: no version: create packaging/VERSION or tag vX.Y.Z" >&2; exit 1; }
	@for arch in $(DEB_ARCHS); do \
		GO='$(GO)' packaging/build-deb.sh '$(DEB_VERSION)' $$arch '$(DEB_OUTDIR)' || exit 1; \
	done

deb-test:
	GO='$(GO)' packaging/test-deb.sh
