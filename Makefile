GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: build run test demo soak bench clean

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/dnsward ./cmd/dnsward
	$(GO) build -trimpath -o bin/dnscrypt-testserver ./cmd/dnscrypt-testserver

# Serves on 127.0.0.1:5353 and [::1]:5353 with the embedded default config,
# writing the query log next to the binary; metrics on METRICS, so that
# "bin/dnsward stats --metrics $(METRICS)" works from another terminal.
METRICS ?= 127.0.0.1:9153
run: build
	./bin/dnsward serve --querylog bin/queries.log --metrics $(METRICS)

test:
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 30m ./...

# The whole path with no internet: the test resolver over DNSCrypt, dnsward
# in front of it, and a few dig answers.
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
