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
work=$(mktemp -d "${TMPDIR:-/tmp}/dnsward-commits.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	git -C "$repo" worktree remove --force "$work/src" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

for c in "$@"; do
	git -C "$repo" worktree add -f --detach "$work/src" "$c" >/dev/null
	(cd "$work/src" && go build -trimpath -o "$work/dnsward-$c" ./cmd/dnsward)
	git -C "$repo" worktree remove --force "$work/src"
done

bin/dnscrypt-testserver -plain 127.0.0.1:0 -dnscrypt 127.0.0.1:0 >"$work/stamp" 2>"$work/testserver.err" &
pids+=($!)
for _ in $(seq 50); do [[ -s $work/testserver.err ]] && break; sleep 0.1; done
stamp=$(head -1 "$work/stamp")
plain=$(sed -n 's/.*plain DNS on \([0-9.]*:[0-9]*\),.*/\1/p' "$work/testserver.err")

for i in $(seq 1000); do echo "h$i.hot.gen.test A"; done >"$work/hot.txt"

# run NAME PORT: the two workloads against a server on PORT.
run() {
	local name=$1 port=$2
	dnsperf -s 127.0.0.1 -p "$port" -d "$work/hot.txt" -l 3 -c 16 -q 100 >/dev/null 2>&1 # warm
	local hits misses
	hits=$(dnsperf -s 127.0.0.1 -p "$port" -d "$work/hot.txt" -l "$secs" -c 16 -q 100 2>&1 |
		awk '/Queries per second/ {q=$4} /Queries lost/ {l=$3} END {printf "%.0f qps, %s lost", q, l}')
	for i in $(seq 200000); do echo "m$i.p$port.gen.test A"; done >"$work/miss.txt"
	misses=$(dnsperf -s 127.0.0.1 -p "$port" -d "$work/miss.txt" -l "$secs" -c 16 -q 100 -n 1 2>&1 |
		awk '/Queries per second/ {q=$4} /Queries lost/ {l=$3} END {printf "%.0f qps, %s lost", q, l}')
	printf '| %s | %s | %s |\n' "$name" "$hits" "$misses"
}

echo "| build | cache hits, query log on | cache misses over DNSCrypt |"
echo "|---|---:|---:|"
port=25400
for c in "$@"; do
	port=$((port + 1))
	cat >"$work/dnsward.yaml" <<EOF
listen: ["127.0.0.1:$port"]
upstreams: ["$stamp"]
rate_limit:
  qps: 0
cache:
  size: 1000000
querylog:
  file: $work/queries-$c.log
EOF
	"$work/dnsward-$c" serve --config "$work/dnsward.yaml" 2>"$work/dnsward-$c.err" &
	pids+=($!)
	for _ in $(seq 50); do dig +time=1 +tries=1 @127.0.0.1 -p "$port" example.test >/dev/null 2>&1 && break; sleep 0.1; done
	run "dnsward $c" "$port"
	kill "${pids[-1]}"
	wait "${pids[-1]}" 2>/dev/null || true
done

port=$((port + 1))
dnsmasq --keep-in-foreground --no-resolv --no-hosts --listen-address=127.0.0.1 --bind-interfaces \
	-p "$port" --server="${plain/:/#}" --cache-size=1000000 --dns-forward-max=1000 \
	--pid-file="$work/dnsmasq.pid" --user=root 2>/dev/null &
pids+=($!)
sleep 0.5
run "dnsmasq (plain DNS upstream)" "$port"
