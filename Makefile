GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: build run test demo soak bench fuzz clean

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/dnsward ./cmd/dnsward
	$(GO) build -trimpath -o bin/dnscrypt-testserver ./cmd/dnscrypt-testserver

# Serves on 127.0.0.1:5353 and [::1]:5353 with the embedded default config,
# writing the query log next to the binary; metrics on METRICS, so that
# "bin/dnsward stats --metrics $(METRICS)" works from another terminal, and
# the control socket in bin/, for "bin/dnsward who IP --control bin/control.sock".
METRICS ?= 127.0.0.1:9153
run: build
	./bin/dnsward serve --querylog bin/queries.log --metrics $(METRICS) --control bin/control.sock

# go test prints nothing of a test skipped in a passing package, so a run
# as a user says here what it could not run: as root (CI) those tests run,
# and a tool they need that is missing fails them. The Debian package test,
# the longest, starts first and runs beside the others; its output is shown
# when both are done.
test:
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	@deb=$$(mktemp); \
	$(GO) test -count=1 -timeout 30m -run '^TestDebianPackage$$' ./packaging >"$$deb" 2>&1 & pid=$$!; \
	$(GO) test -race -count=1 -timeout 30m -skip '^TestDebianPackage$$' ./...; rc=$$?; \
	wait $$pid; debrc=$$?; cat "$$deb"; rm -f "$$deb"; \
	[ $$rc = 0 ] && [ $$debrc = 0 ]
	@[ "$$(id -u)" = 0 ] || echo "skipped: the Debian package test and the tests in network namespaces (nftset, flows, lan, the egress end-to-end tests) need root: sudo make test GO=\"$$(command -v $(GO))\""

# Every fuzz target for FUZZTIME each. -fuzzminimizetime 1s: go test's
# default spends up to 60 s minimising each new input, which stalls a short
# run.
FUZZTIME ?= 30s
fuzz:
	@list=$$($(GO) test -list '^Fuzz' ./...) || { echo "$$list"; exit 1; }; \
	echo "$$list" | awk '/^Fuzz/ { t[n++] = $$1 } /^ok / { for (i = 0; i < n; i++) print $$2, t[i]; n = 0 }' | \
	while read -r pkg target; do \
		echo "== $$target ($$pkg)"; \
		$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 1s "$$pkg" || exit 1; \
	done

# The whole path with no internet: the test resolver over DNSCrypt, dnsward
# in front of it on free ports (DEMO_PORT, DEMO_DNSCRYPT_PORT to choose),
# a few dig answers and their query-log records.
demo: build
	./scripts/demo.sh

# A bounded soak (SOAK_DURATION, default 5m): mixed load with upstream
# faults; memory and goroutines must stay flat, every answer logged.
SOAK_DURATION ?= 5m
soak:
	SOAK_DURATION=$(SOAK_DURATION) $(GO) test -tags soak -run TestSoak -count=1 -timeout 30m -v ./cmd/dnsward

# dnsward side by side with dnsmasq and unbound on loopback (dnsperf),
# written to BENCHMARKS.md. Installs what it needs from Debian's packages.
bench: build
	$(GO) run ./cmd/dnsward-bench -out BENCHMARKS.md

clean:
	rm -rf bin

include packaging/deb.mk
