#!/usr/bin/env bash
# Starts the DNSCrypt test resolver and dnsward in front of it, asks a few
# questions with dig, stops both and shows the query log's records.
#
# Ports: DEMO_PORT is dnsward's (default: a free one, tried until one
# binds), DEMO_DNSCRYPT_PORT the test resolver's (default: the kernel's
# pick). When a process cannot start, its own error is shown. DEMO_BIN is
# where dnsward and dnscrypt-testserver are (default: bin, as make builds).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${DEMO_BIN:-./bin}
command -v dig >/dev/null || { echo "demo: dig is missing (apt-get install dnsutils)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT

# Waits up to 10 s for the background process PID to write a line
# matching PATTERN to FILE. Fails if it exits first or does not, and then
# the process is gone and FILE holds its last word.
started() { # PID FILE PATTERN
	for _ in $(seq 100); do
		grep -q -- "$3" "$2" 2>/dev/null && return 0
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	return 1
}
# Shows why WHAT did not start, and exits.
failed() { # WHAT FILE
	echo "demo: $1 did not start; its output:" >&2
	cat "$2" >&2
	exit 1
}

"$bin/dnscrypt-testserver" -plain 127.0.0.1:0 -dnscrypt "127.0.0.1:${DEMO_DNSCRYPT_PORT:-0}" >"$tmp/stamp" 2>"$tmp/testserver.log" &
started $! "$tmp/testserver.log" '^serving' || failed "the test resolver" "$tmp/testserver.log"
stamp=$(head -n1 "$tmp/stamp")
cat "$tmp/testserver.log"
echo "test resolver stamp: $stamp"

# dnsward says "serving" once its sockets are bound, so no query has to
# probe it (one would warm the cache for the answers shown below).
for try in $(seq 10); do
	port=${DEMO_PORT:-$((20000 + RANDOM % 40000))}
	"$bin/dnsward" serve --listen "127.0.0.1:$port" --upstream "$stamp" --querylog "$tmp/queries.log" --log-level debug 2>"$tmp/dnsward.log" &
	dnsward=$!
	started "$dnsward" "$tmp/dnsward.log" 'msg=serving' && break
	# Another port, unless this one was asked for or the error is another.
	if [[ -n ${DEMO_PORT:-} || $try == 10 ]] || ! grep -q 'address already in use' "$tmp/dnsward.log"; then
		failed "dnsward on 127.0.0.1:$port" "$tmp/dnsward.log"
	fi
done
echo "dnsward on 127.0.0.1:$port"

for q in "example.test A" "www.example.test A" "example.test AAAA" "nosuch.example.test A" "example.test A"; do
	echo "--- dig $q"
	# shellcheck disable=SC2086
	dig @127.0.0.1 -p "$port" +noall +answer +comments $q | grep -E 'status|IN' || true
done

# SIGTERM flushes the query log before dnsward exits.
kill -TERM "$dnsward"
wait "$dnsward" || { echo "demo: dnsward exited with status $? on SIGTERM; its log:" >&2; cat "$tmp/dnsward.log" >&2; exit 1; }
echo "--- dnsward's debug log (source=cache marks answers served from the cache)"
cat "$tmp/dnsward.log"
echo "--- the query log's records (dnsward querylog export --from FILE --format kv)"
"$bin/dnsward" querylog export --from "$tmp/queries.log" --format kv
