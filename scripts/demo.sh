#!/usr/bin/env bash
# Starts the DNSCrypt test resolver and dnsward in front of it, asks a few
# questions with dig, and stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dig >/dev/null || { echo "demo: dig is missing (apt-get install dnsutils)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT

./bin/dnscrypt-testserver -plain 127.0.0.1:5300 -dnscrypt 127.0.0.1:5443 >"$tmp/stamp" 2>"$tmp/testserver.log" &
for _ in $(seq 50); do [ -s "$tmp/stamp" ] && break; sleep 0.1; done
stamp=$(head -n1 "$tmp/stamp")
echo "test resolver stamp: $stamp"

./bin/dnsward serve --listen 127.0.0.1:5353 --upstream "$stamp" --log-level debug 2>"$tmp/dnsward.log" &
for _ in $(seq 50); do dig @127.0.0.1 -p 5353 +time=1 +tries=1 example.test >/dev/null 2>&1 && break; sleep 0.1; done

for q in "example.test A" "www.example.test A" "example.test AAAA" "nosuch.example.test A" "example.test A"; do
	echo "--- dig $q"
	# shellcheck disable=SC2086
	dig @127.0.0.1 -p 5353 +noall +answer +comments $q | grep -E 'status|IN' || true
done
echo "--- dnsward's debug log (source=cache marks answers served from the cache)"
cat "$tmp/dnsward.log"
