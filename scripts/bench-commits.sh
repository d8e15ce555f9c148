#!/usr/bin/env bash
# Measures what each change bought: builds dnsward at each given commit and
# runs the same two dnsperf workloads against each build, one after another
# in one run, with dnsmasq as the reference:
#   hits:   1,000 hot names, query log on (file sink), cache warmed first;
#   misses: distinct names sent once, forwarded over DNSCrypt.
# Everything listens on 127.0.0.1; every run is bounded by dnsperf -l.
#
# Usage: scripts/bench-commits.sh COMMIT...   (from the repository root, after make build)
set -euo pipefail
[[ $# -gt 0 ]] || { echo "usage: $0 COMMIT..." >&2; exit 2; }
repo=$(pwd)
secs=${BENCH_SECONDS:-10}

# dnsward reads DNSWARD_* variables and lets them override its config file:
# one left in the caller's shell would change what every build is measured
# with.
for v in $(compgen -e); do
	if [[ $v == DNSWARD_* ]]; then unset "$v"; fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/dnsward-commits.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	git -C "$repo" worktree remove --force "$work/src" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

# Binaries are named by position: a commit name may hold a '/'.
i=0
for c in "$@"; do
	i=$((i + 1))
	git -C "$repo" worktree add -f --detach "$work/src" "$c" >/dev/null
	(cd "$work/src" && go build -trimpath -o "$work/dnsward-$i" ./cmd/dnsward)
	git -C "$repo" worktree remove --force "$work/src"
done

# started NAME PID PORT ERRFILE: returns once process PID answers a gen.test
# question on 127.0.0.1:PORT; otherwise (it died, or 5 s passed) shows
# ERRFILE and ends the script, since figures from a dead or foreign server
# would be wrong.
started() {
	local name=$1 pid=$2 port=$3 err=$4
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		if dig +short +time=1 +tries=1 @127.0.0.1 -p "$port" ready.gen.test A 2>/dev/null | grep -E '^[0-9.]+$' >/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "$name (pid $pid) did not answer on 127.0.0.1:$port; $err:" >&2
	cat "$err" >&2
	exit 1
}

# -key-cache as in make bench: without it the test resolver's own X25519
# work, not the build under test, bounds the misses.
bin/dnscrypt-testserver -key-cache -plain 127.0.0.1:0 -dnscrypt 127.0.0.1:0 >"$work/stamp" 2>"$work/testserver.err" &
pids+=($!)
stamp='' plain=''
for _ in $(seq 50); do
	stamp=$(head -1 "$work/stamp")
	plain=$(sed -n 's/.*plain DNS on \([0-9.]*:[0-9]*\),.*/\1/p' "$work/testserver.err")
	[[ -n $stamp && -n $plain ]] && break
	sleep 0.1
done
if [[ -z $stamp || -z $plain ]]; then
	echo "the test resolver printed no stamp or no plain address (stamp '$stamp', address '$plain'); $work/testserver.err:" >&2
	cat "$work/testserver.err" >&2
	exit 1
fi
started "the test resolver" "${pids[-1]}" "${plain##*:}" "$work/testserver.err"

for n in $(seq 1000); do echo "h$n.hot.gen.test A"; done >"$work/hot.txt"

# perf PORT FILE [DNSPERF ARG...]: one dnsperf run of at most $secs s,
# summarised as "QPS qps, N lost".
perf() {
	local port=$1 file=$2
	shift 2
	dnsperf -s 127.0.0.1 -p "$port" -d "$file" -l "$secs" -c 16 -q 100 "$@" 2>&1 |
		awk '/Queries per second/ {q=$4} /Queries lost/ {l=$3} END {printf "%.0f qps, %s lost", q, l}'
}

# run NAME PORT: the two workloads against a server on PORT.
run() {
	local name=$1 port=$2
	dnsperf -s 127.0.0.1 -p "$port" -d "$work/hot.txt" -l 3 -c 16 -q 100 >/dev/null 2>&1 # warm
	local hits misses
	hits=$(perf "$port" "$work/hot.txt")
	for n in $(seq 200000); do echo "m$n.p$port.gen.test A"; done >"$work/miss.txt"
	misses=$(perf "$port" "$work/miss.txt" -n 1)
	printf '| %s | %s | %s |\n' "$name" "$hits" "$misses"
}

echo "| build | cache hits, query log on | cache misses over DNSCrypt |"
echo "|---|---:|---:|"
port=25400
i=0
for c in "$@"; do
	i=$((i + 1))
	port=$((port + 1))
	cat >"$work/dnsward.yaml" <<EOF
listen: ["127.0.0.1:$port"]
upstreams: ["$stamp"]
rate_limit:
  qps: 0
cache:
  size: 1000000
querylog:
  file: $work/queries-$i.log
EOF
	"$work/dnsward-$i" serve --config "$work/dnsward.yaml" 2>"$work/dnsward-$i.err" &
	pids+=($!)
	started "dnsward $c" "${pids[-1]}" "$port" "$work/dnsward-$i.err"
	run "dnsward $c" "$port"
	kill "${pids[-1]}"
	wait "${pids[-1]}" 2>/dev/null || true
	unset 'pids[-1]'
done

# --conf-file=/dev/null keeps the machine's /etc/dnsmasq.conf (which may
# forward to public resolvers or serve DHCP) out of the reference.
port=$((port + 1))
dnsmasq --conf-file=/dev/null --keep-in-foreground --no-resolv --no-hosts --no-poll \
	--listen-address=127.0.0.1 --bind-interfaces --port="$port" --server="${plain/:/#}" \
	--cache-size=1000000 --dns-forward-max=1000 --pid-file="$work/dnsmasq.pid" --user=root \
	--log-facility=- 2>"$work/dnsmasq.err" &
pids+=($!)
started dnsmasq "${pids[-1]}" "$port" "$work/dnsmasq.err"
run "dnsmasq (plain DNS upstream)" "$port"
