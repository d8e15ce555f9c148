#!/usr/bin/env bash
# Builds dnsward_<version>_<arch>.deb with dpkg-deb alone, so any Debian
# machine with Go can build it for both architectures without debhelper's
# cross-toolchain setup.
#
# Usage: packaging/build-deb.sh VERSION ARCH OUTDIR
#   VERSION is the Debian version, upstream-revision (0.1.0-1); the binary
#   reports the upstream part.
# Environment: GO (go), DEB_MAINTAINER, DEB_CONFIG (the default configuration
# to package instead of packaging/dnsward.yaml; the tests use it to make two
# releases differ).
set -euo pipefail
# Modes in the package come from here unless set explicitly.
umask 022

version=$1 arch=$2 outdir=$3
GO=${GO:-go}
maintainer=${DEB_MAINTAINER:-dnsward developers <maintainers@users.noreply.github.com>}

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
tpl=$here/deb

# dpkg refuses versions that don't start with a digit (e.g. a bare git hash).
if [[ ! $version =~ ^[0-9][A-Za-z0-9.+~]*-[A-Za-z0-9.+~]+$ ]]; then
	echo "build-deb.sh: $version is not a Debian version upstream-revision, like 0.1.0-1" >&2
	exit 1
fi
case $arch in
amd64 | arm64) ;;
*) echo "build-deb.sh: unsupported architecture $arch" >&2; exit 1 ;;
esac

for tool in dpkg-deb help2man gzip awk; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "build-deb.sh: $tool is missing (apt-get install dpkg-dev help2man)" >&2
		exit 1
	fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/dnsward-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root

# The last commit's time stamps the changelog and the files, so rebuilding
# the same tree gives the same package.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)}

# Without cgo the binary needs no library, so the same recipe cross-builds
# arm64. PIE for address randomisation (and so lintian sees it is not a
# static binary built by accident).
gobuild() { # GOARCH OUTPUT
	(cd "$repo" && CGO_ENABLED=0 GOOS=linux GOARCH=$1 "$GO" build -trimpath -buildmode=pie \
		-ldflags "-s -w -X main.version=${version%-*}" -o "$2" ./cmd/dnsward)
}
install -d "$root/usr/bin"
gobuild "$arch" "$root/usr/bin/dnsward"
# The man page and the config check run the program, so they need one this
# machine can execute.
host_bin=$root/usr/bin/dnsward
host_arch=$(dpkg --print-architecture)
if [[ $arch != "$host_arch" ]]; then
	host_bin=$work/dnsward-host
	gobuild "$host_arch" "$host_bin"
fi

install -d "$root/etc/dnsward"
awk -v user=dnsward -v state_dir=/var/lib/dnsward -v querylog_file=/var/log/dnsward/queries.log \
	-v control_socket=/run/dnsward/control.sock \
	-f "$tpl/packaged-config.awk" "${DEB_CONFIG:-$here/dnsward.yaml}" >"$root/etc/dnsward/dnsward.yaml"
"$host_bin" check-config --config "$root/etc/dnsward/dnsward.yaml" >/dev/null

install -D -m 0644 "$tpl/dnsward.service" "$root/lib/systemd/system/dnsward.service"
install -D -m 0644 "$tpl/dnsward.logrotate" "$root/etc/logrotate.d/dnsward"
install -D -m 0755 "$tpl/port53-hint" "$root/usr/lib/dnsward/port53-hint"
install -D -m 0644 "$tpl/lintian-overrides" "$root/usr/share/lintian/overrides/dnsward"

# dnsward(8) from the program's own help: the top-level --help, then each
# command's flags, then the hand-written FILES/SIGNALS/... sections.
{
	echo "[COMMAND FLAGS]"
	"$host_bin" --help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { exit }' |
		while read -r cmd; do
			help=$("$host_bin" "$cmd" --help 2>&1 || true)
			# Commands without flags (version) print something other than usage.
			[[ $help == Usage* ]] || continue
			printf '.SS "%s"\n.nf\n' "$cmd"
			# Escape backslashes and leading dots/quotes so roff prints them literally.
			sed -e '/^Usage of /d' -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/" <<<"$help"
			printf '.fi\n'
		done
} >"$work/commands.h2m"
# help2man splits a command from its description at two spaces; a command
# name as wide as the column leaves one, so widen it.
mkdir "$work/h2m"
cat >"$work/h2m/dnsward" <<WRAPPER
#!/bin/sh
"$host_bin" "\$@" | sed '/^Commands:/,/^\$/ s/^  \([a-z-]*\) \([^ ]\)/  \1  \2/'
WRAPPER
chmod 0755 "$work/h2m/dnsward"
install -d "$root/usr/share/man/man8"
help2man --no-info --section=8 --source=dnsward --manual="System Administration" \
	--name="LAN DNS resolver with DNSCrypt forwarding and blocklists" \
	--version-string="${version%-*}" --include="$work/commands.h2m" --include="$tpl/dnsward.h2m" \
	"$work/h2m/dnsward" >"$work/dnsward.8"
gzip -9n <"$work/dnsward.8" >"$root/usr/share/man/man8/dnsward.8.gz"

doc=$root/usr/share/doc/dnsward
install -D -m 0644 "$tpl/copyright" "$doc/copyright"
# The default-deny egress ruleset README "Egress by name" starts from.
install -D -m 0644 "$here/examples/egress.nft" "$doc/examples/egress.nft"
# One entry per build: the package's history is the git log.
{
	printf 'dnsward (%s) unstable; urgency=medium\n\n' "$version"
	printf '  * Built from git %s.\n\n' "$(git -C "$repo" describe --tags --always 2>/dev/null || echo unknown)"
	printf ' -- %s  %s\n' "$maintainer" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$doc/changelog.Debian.gz"

install -d "$root/DEBIAN"
install -m 0755 "$tpl/postinst" "$tpl/prerm" "$tpl/postrm" "$root/DEBIAN/"
# Everything under /etc is a conffile: dpkg keeps the admin's edits.
(cd "$root" && find etc -type f | sort | sed 's|^|/|') >"$root/DEBIAN/conffiles"
(cd "$root" && find usr lib -type f -print0 | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@MAINTAINER@|$maintainer|" \
	-e "s|@INSTALLED_SIZE@|$(du -sk --exclude=DEBIAN "$root" | cut -f1)|" \
	"$tpl/control" >"$root/DEBIAN/control"

find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
install -d "$outdir"
dpkg-deb --root-owner-group -Zxz --build "$root" "$outdir/dnsward_${version}_${arch}.deb" >/dev/null
echo "$outdir/dnsward_${version}_${arch}.deb"
