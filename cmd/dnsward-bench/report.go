package main

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// keptHeading starts the hand-written part of the report: it and
// everything below it survive a rewrite.
const keptHeading = "## What each change bought"

// keptSection returns the hand-written tail of an existing report, from
// keptHeading (at the start of a line) to the end; "" when absent.
func keptSection(old string) string {
	for off := 0; ; {
		i := strings.Index(old[off:], keptHeading)
		if i < 0 {
			return ""
		}
		i += off
		if i == 0 || old[i-1] == '\n' {
			return old[i:]
		}
		off = i + len(keptHeading)
	}
}

// writeReport renders res to path, keeping the hand-written section of the
// file already there.
func writeReport(path string, res *results) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	kept := keptSection(string(old))
	if kept == "" {
		kept = keptHeading + "\n\nHand-written: each optimisation of the hot path and what it changed in the tables above. " +
			"`make bench` rewrites everything above this heading and keeps everything from it down.\n"
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(render(res)+"\n"+kept), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// render is the generated part of the report.
func render(res *results) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	m, o := res.machine, res.opts
	w("# Benchmarks\n\n")
	w("Written by `make bench` ([cmd/dnsward-bench](cmd/dnsward-bench)), issue 8: dnsward beside dnsmasq and unbound on loopback, ")
	w("each run bounded, all in the same run. Everything above \"%s\" is regenerated.\n\n", keptHeading)
	w("## Machine\n\n")
	w("| | |\n|---|---|\n")
	w("| date | %s (the run took %s) |\n", m.Date, res.elapsed.Round(time.Second))
	w("| CPUs (nproc) | %d × %s |\n", m.CPUs, m.CPUModel)
	w("| kernel | %s |\n| Go | %s |\n", m.Kernel, m.GoVersion)
	w("| tools | %s; %s; %s |\n", m.DNSPerf, m.Dnsmasq, m.Unbound)
	w("| under test | %s |\n", m.Dnsward)
	w("| load average | %s at the start, %s at the end |\n\n", m.LoadStart, m.LoadEnd)
	w("dnsperf, the test resolver and the server under test share the %d CPUs; dnsperf's own CPU is reported with each run. ", m.CPUs)
	w("A load average well above zero at the start means other work was running and the figures are low and noisy.\n\n")
	w("## Set-up\n\n")
	w("- Test resolver: `bin/dnscrypt-testserver -key-cache` (plain DNS and DNSCrypt on 127.0.0.1); names under `gen.test.` get a synthesised A record, TTL 300. `-key-cache` keeps each client's DNSCrypt shared key, as production resolvers do (encrypted-dns-server's key cache); without it the library's server computes X25519 for every query and reply.\n")
	w("- dnsward: `bin/dnsward serve` forwarding over **DNSCrypt** (the test resolver's stamp), `cache.size: %d`, `rate_limit.qps: 0` (off), `local.hosts_files: []`, query log off unless said, `metrics.listen` on loopback.\n", o.cacheSize())
	w("- dnsmasq: `dnsmasq %s`, plain DNS to the test resolver.\n", strings.Join(dnsmasqArgs("PORT", "TESTSERVER_PORT", o.cacheSize(), "$DIR"), " "))
	w("- unbound: `num-threads: %d`, `so-reuseport: yes`, `local-zone: \"test.\" nodefault`, `forward-zone`s for `test.` and `.` to the test resolver (plain DNS; nothing reaches the root servers), no trust anchor, `do-not-query-localhost: no`, iterator module only, caches 512m/1024m.\n", o.threads)
	w("- Query files in `$TMP`: %s hot names (`h<i>.hot.gen.test`), %s distinct names per cache-miss run, %s for memory; blocklist of %s domain-per-line rules.\n",
		thousands(int64(o.hot)), thousands(int64(o.missNames)), thousands(int64(o.memNames)), thousands(int64(o.rules)))
	w("- Columns: qps and latency from dnsperf (p99 from `-v` per-query latencies in the half-rate runs only, nearest rank, a lost query counting as infinitely slow (∞): printing every query slows dnsperf by about a fifth, so the throughput runs are not verbose); ")
	w("CPU %% = server / dnsperf (in brackets its busiest thread) / test resolver / everything else on the machine, each in %% of one core over the run (%d cores = %d%%; a large last figure means other work competed); CPU µs per answer = the server's and the test resolver's CPU time divided by the answers dnsperf got; kernel drops = UDP datagrams dropped for a full receive buffer on the server's sockets / the test resolver's sockets / system-wide `RcvbufErrors` (dnsperf's own socket included).\n\n", m.CPUs, 100*m.CPUs)

	w("## Floors from issue 8\n\n")
	w("A floor is met when its figures are and every run it rests on lost nothing, got only NOERROR and had no problem (and, with the query log on, the log dropped no record and holds one for every answered query); ")
	w("it is inconclusive when in one of those runs one of dnsperf's threads used %d%% of a core or more, or other work more than %d%% (the figures then measure dnsperf or that work), or the counters could not be read. ", dnsperfBusyPct, otherBusyPct)
	w("Such a doubt outranks a loss: it may be what caused it, so the floor is then inconclusive, not unmet. ")
	w("dnsperf sends and receives on separate threads, so its total can pass one core while it still keeps up.\n\n")
	for _, f := range floors(res) {
		w("- **%s** — %s\n", f.verdict(), f.line())
	}
	w("\n")

	dm, ub := find(res.hits, "dnsmasq"), find(res.hits, "unbound")
	section(&b, "1. Cache hits", fmt.Sprintf("%s hot names repeated, caches warmed first (two passes, not measured).", thousands(int64(o.hot))), res.hits, dm, ub, res.tmp)
	section(&b, "Cache hits at half the saturation rate", "Each server limited (`-Q`) to half the qps it reached in table 1: latency when not saturated.", res.halfRate, nil, nil, res.tmp)
	section(&b, "2. Cache misses, no upstream delay", "Distinct names sent once (`-n 1`); dnsward asks the test resolver over DNSCrypt, dnsmasq and unbound over plain DNS. "+plainRow,
		res.missFast, find(res.missFast, "dnsmasq"), find(res.missFast, "unbound"), res.tmp)
	tlsMissSection(&b, res.missTLS, find(res.missFast, "dnsward"), res.tmp)
	ceiling := float64(o.outstanding) / o.delay.Seconds()
	section(&b, fmt.Sprintf("2b. Cache misses, %s upstream delay", o.delay),
		fmt.Sprintf("A second test resolver waits %s before every answer; fresh servers. Ceiling: %d outstanding / %s = %s qps. %s The row `testserver (%s)` is dnsperf asking the test resolver itself: the most this machine's dnsperf gets from it. %s",
			o.delay, o.outstanding, o.delay, thousands(int64(ceiling)), plainRow, directRow, roundsNote(res.slowRounds, res.missSlow)),
		res.missSlow, find(res.missSlow, "dnsmasq"), find(res.missSlow, "unbound"), res.tmp)
	section(&b, "3. dnsward cache hits: query log off / on, blocklist", "The cache-hit run of table 1 again for dnsward; ratios against dnsmasq's and unbound's cache-hit figures of table 1.",
		res.variants, dm, ub, res.tmp)
	if q := res.qlog; q != nil {
		w("Query log on: the file got %s records (%s bytes) for %s answered queries (records are one per answer RR); %s records dropped from the queue (`dnsward_querylog_dropped_total`).\n\n",
			thousands(q.Lines), thousands(q.Bytes), thousands(q.Answered), thousands(int64(q.Dropped)))
	}
	if r := res.rules; r != nil {
		w("%s rules: dnsward first answered `%s` (not listed) %s after its process started (list load included, polled every %s); `%s`, under the list's last rule, was %s.\n\n",
			thousands(int64(r.Rules)), r.ReadyName, r.LoadTime.Round(time.Millisecond), readyPoll, r.BlockedName,
			map[bool]string{true: "blocked", false: "**not blocked**"}[r.Blocked])
	}
	memorySection(&b, res)
	leanSection(&b, res)
	indexSection(&b, res.index, res.tmp)
	flowSection(&b, res.flows, res.opts, res.tmp)
	webSection(&b, res.web, res.tmp)
	cacheFileSection(&b, res.cacheFile)
	scanSection(&b, res.scan)
	if len(res.notes) > 0 {
		w("## Problems seen in this run\n\n")
		for _, n := range res.notes {
			w("- %s\n", n)
		}
		w("\n")
	}
	return b.String()
}

// roundsNote says how the delayed table's rows were chosen and lists every
// round's qps, so the spread the median hides stays in the report.
func roundsNote(rounds [][]*runStats, medians []*runStats) string {
	if len(rounds) < 2 {
		return ""
	}
	var each []string
	for _, m := range medians {
		each = append(each, m.label()+" "+roundsQPS(rounds, m.label()))
	}
	return fmt.Sprintf("Every server ran in each of %d rounds, one after the other, each round on names no server had been asked; each row is the server's median round. Every round's qps: %s.",
		len(rounds), strings.Join(each, ", "))
}

// roundsQPS is "a / b / c", the qps of label's run in each round.
func roundsQPS(rounds [][]*runStats, label string) string {
	return eachRound(rounds, label, func(r *runStats) string { return thousands(int64(math.Round(r.Perf.QPS))) })
}

// eachRound is figure of every run labelled label, in the order run, as
// "a / b / c".
func eachRound(rounds [][]*runStats, label string, figure func(*runStats) string) string {
	var each []string
	for _, r := range roundsOf(rounds, label) {
		each = append(each, figure(r))
	}
	return strings.Join(each, " / ")
}

// directRow names the delayed miss table's run without a forwarder.
const directRow = "asked directly"

// plainRow explains the miss tables' extra dnsward row.
const plainRow = "The row `dnsward (" + plainUpstream + ")` is a second dnsward forwarding over plain DNS, as dnsmasq and unbound do: the floors use the DNSCrypt row, and the difference between the two is what the test resolver's DNSCrypt costs."

// find is the plain-configuration run of server in rows, or nil.
func find(rows []*runStats, server string) *runStats {
	for _, r := range rows {
		if r.Server == server && r.Variant == "" {
			return r
		}
	}
	return nil
}

// section writes one workload's table, dnsward's ratios to dnsmasq (dm) and
// unbound (ub) when given, and the exact commands.
func section(b *strings.Builder, title, intro string, rows []*runStats, dm, ub *runStats, tmp string) {
	fmt.Fprintf(b, "## %s\n\n%s\n\n", title, intro)
	if len(rows) == 0 {
		b.WriteString("Not measured in this run.\n\n")
		return
	}
	withRatios := dm != nil || ub != nil
	b.WriteString("| server | qps |")
	if withRatios {
		b.WriteString(" qps ÷ dnsmasq | qps ÷ unbound |")
	}
	b.WriteString(" avg ms | p99 ms | sent | lost | not NOERROR | CPU % | CPU µs per answer | kernel drops |\n|---|---:|")
	if withRatios {
		b.WriteString("---:|---:|")
	}
	b.WriteString("---:|---:|---:|---:|---|---|---|---|\n")
	for _, r := range rows {
		p := r.Perf
		fmt.Fprintf(b, "| %s | %s |", r.label(), thousands(int64(math.Round(p.QPS))))
		if withRatios {
			if r.Server == "dnsward" {
				fmt.Fprintf(b, " %s | %s |", ratio(p.QPS, qps(dm)), ratio(p.QPS, qps(ub)))
			} else {
				b.WriteString(" | |")
			}
		}
		fmt.Fprintf(b, " %s | %s | %s | %s | %s | %s | %s | %s |\n",
			ms(p.AvgLatency), ms(p.P99()), thousands(p.Sent), thousands(p.Lost), orDash(p.OtherRCodes()),
			r.cpuCell(), r.perAnswerCell(), r.dropsCell())
	}
	b.WriteString("\n")
	if withRatios {
		for _, r := range rows {
			if r.Server != "dnsward" {
				continue
			}
			fmt.Fprintf(b, "- %s: avg latency %s dnsmasq's, %s unbound's; p99 %s dnsmasq's, %s unbound's.\n", r.label(),
				ratio(r.Perf.AvgLatency, field(dm, (*perfResult).avg)), ratio(r.Perf.AvgLatency, field(ub, (*perfResult).avg)),
				ratio(r.Perf.P99(), field(dm, (*perfResult).P99)), ratio(r.Perf.P99(), field(ub, (*perfResult).P99)))
		}
		b.WriteString("\n")
	}
	b.WriteString("```\n")
	for _, r := range rows {
		fmt.Fprintf(b, "%-28s %s\n", r.label()+":", r.Spec.command(tmp))
	}
	b.WriteString("```\n\n")
}

// avg is the average latency, for field.
func (r *perfResult) avg() float64 { return r.AvgLatency }

// field reads f from a run's dnsperf result; NaN without a run.
func field(r *runStats, f func(*perfResult) float64) float64 {
	if r == nil || r.Perf == nil {
		return math.NaN()
	}
	return f(r.Perf)
}

// qps is a run's qps; NaN without a run.
func qps(r *runStats) float64 { return field(r, func(p *perfResult) float64 { return p.QPS }) }

// memorySection writes workload 4.
func memorySection(b *strings.Builder, res *results) {
	fmt.Fprintf(b, "## 4. Memory\n\nFresh servers, one at a time, each sent up to %s distinct names once (at most %d s); resident size (VmRSS) before and after.\n\n",
		thousands(int64(res.opts.memNames)), res.opts.memLimit)
	if len(res.memory) == 0 {
		b.WriteString("Not measured in this run.\n\n")
		return
	}
	n := int64(res.opts.memNames)
	fmt.Fprintf(b, "| server | names sent | answered | lost | not NOERROR | qps | RSS before | RSS after | growth per answered name | RSS at %s names (extrapolated) | cache entries | CPU %% | kernel drops |\n", thousands(n))
	b.WriteString("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---|\n")
	for _, m := range res.memory {
		per, extra := "—", "—"
		if g := m.perName(); !math.IsNaN(g) {
			per = fmt.Sprintf("%s B", thousands(int64(g)))
			extra = mib(int64(m.rssAt(n) / 1024))
		}
		entries := "—"
		if m.CacheEntries >= 0 {
			entries = thousands(int64(m.CacheEntries))
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", m.Server, thousands(m.Perf.Sent), thousands(m.Perf.Completed),
			thousands(m.Perf.Lost), orDash(m.Perf.OtherRCodes()), thousands(int64(m.Perf.QPS)), mib(m.BaseKiB), mib(m.AfterKiB), per, extra, entries,
			m.Run.cpuCell(), m.Run.dropsCell())
	}
	b.WriteString("\n")
	b.WriteString("- dnsmasq allocates its whole cache (`--cache-size`) at start, so its RSS hardly grows; unbound and dnsward grow with what they cache.\n")
	if dw, ub := findMem(res.memory, "dnsward"), findMem(res.memory, "unbound"); dw != nil && ub != nil {
		fmt.Fprintf(b, "- dnsward's growth per answered name: %s unbound's; RSS after the fill %s unbound's (for %s vs %s names answered).\n",
			ratio(dw.perName(), ub.perName()), ratio(float64(dw.AfterKiB), float64(ub.AfterKiB)), thousands(dw.Perf.Completed), thousands(ub.Perf.Completed))
	}
	for _, m := range res.memory {
		if m.Run.UpstreamDrops == 0 {
			continue
		}
		outcome := "every client query was still answered NOERROR (the server retried)"
		if rc := m.Perf.OtherRCodes(); rc != "" {
			outcome = "clients got " + rc
		}
		fmt.Fprintf(b, "- %s: the test resolver's sockets dropped %d of its queries during the fill (their receive buffer is the kernel default); %s.\n",
			m.Server, m.Run.UpstreamDrops, outcome)
	}
	if r := res.rules; r != nil {
		fmt.Fprintf(b, "- dnsward with %s blocklist rules loaded: RSS %s once serving, %s after its cache-hit run", thousands(int64(r.Rules)), mib(r.IdleKiB), mib(r.AfterHitKiB))
		if dw := findMem(res.memory, "dnsward"); dw != nil {
			fmt.Fprintf(b, " (a fresh dnsward without the list: %s)", mib(dw.BaseKiB))
		}
		b.WriteString(".\n")
	}
	b.WriteString("\n```\n")
	for _, m := range res.memory {
		fmt.Fprintf(b, "%-10s %s\n", m.Server+":", m.Spec.command(res.tmp))
	}
	b.WriteString("```\n\n")
}

// rssAt is the RSS in bytes at n names, from the RSS before the fill and
// the growth per name; NaN when no name was answered.
func (m *memStats) rssAt(n int64) float64 {
	return float64(m.BaseKiB)*1024 + m.perName()*float64(n)
}

// perName is RSS growth in bytes per answered name; NaN when none was.
func (m *memStats) perName() float64 {
	if m.Perf == nil || m.Perf.Completed == 0 {
		return math.NaN()
	}
	return float64(m.AfterKiB-m.BaseKiB) * 1024 / float64(m.Perf.Completed)
}

func findMem(ms []*memStats, server string) *memStats {
	for _, m := range ms {
		if m.Server == server {
			return m
		}
	}
	return nil
}

// Beyond these, a run's figures measure the load generator or other work
// on the machine rather than the server, so a floor cannot be judged from
// them: a dnsperf thread's CPU at or above dnsperfBusyPct of one core, or the rest
// of the machine's above otherBusyPct.
const (
	dnsperfBusyPct = 95
	otherBusyPct   = 25
)

// floor is one of issue 8's floors, judged from the run's figures.
type floor struct {
	text     string
	measured bool
	met      bool     // the figures reach the floor
	faults   []string // what was not clean: losses, other answers, problems, log records missing
	doubts   []string // why the runs cannot judge the floor
}

// verdict is the floor's outcome. A doubt outranks a fault: a run that
// measured dnsperf or other work may have lost queries or log records
// because of it, so those losses cannot fail the floor either.
func (f floor) verdict() string {
	switch {
	case !f.measured:
		return "not measured"
	case len(f.doubts) > 0:
		return "inconclusive"
	case f.met && len(f.faults) == 0:
		return "met"
	default:
		return "not met"
	}
}

// line is the floor as the report prints it.
func (f floor) line() string {
	s := f.text
	if len(f.faults) > 0 {
		s += "; not clean: " + strings.Join(f.faults, "; ")
	}
	if len(f.doubts) > 0 {
		s += " — not judged: " + strings.Join(f.doubts, "; ")
	}
	return s
}

// judge settles f from the runs it depends on: met when the figures
// (figuresMet) are and every run is clean (nothing lost, only NOERROR, no
// problem recorded); inconclusive when any run's CPU figures say it
// measured something other than the server.
func (f *floor) judge(figuresMet bool, runs ...*runStats) {
	f.measured, f.met = true, figuresMet
	for _, r := range runs {
		var bad []string
		if r.Perf.Lost > 0 {
			bad = append(bad, thousands(r.Perf.Lost)+" lost")
		}
		if rc := r.Perf.OtherRCodes(); rc != "" {
			bad = append(bad, rc)
		}
		if len(r.Problems) > 0 {
			bad = append(bad, fmt.Sprintf("%d problem(s), listed below", len(r.Problems)))
		}
		if len(bad) > 0 {
			f.faults = append(f.faults, r.label()+": "+strings.Join(bad, ", "))
		}
		switch {
		case len(r.Gaps) > 0:
			f.doubts = append(f.doubts, fmt.Sprintf("the CPU and drop counters of the %s run were not all read", r.label()))
		case r.Perf.BusiestThreadPct >= dnsperfBusyPct:
			f.doubts = append(f.doubts, fmt.Sprintf("a dnsperf thread used %.0f%% of a core in the %s run, so it measured dnsperf", r.Perf.BusiestThreadPct, r.label()))
		case r.cpuPct(r.OtherCPU) > otherBusyPct:
			f.doubts = append(f.doubts, fmt.Sprintf("other work used %.0f%% of a core during the %s run", r.cpuPct(r.OtherCPU), r.label()))
		}
	}
}

// judgeLog adds the query log of the log-on run to f: a dropped record, or
// fewer records than answered queries, is a fault like a lost query;
// counters that could not be read leave the log unjudged.
func (f *floor) judgeLog(q *logStats) {
	switch {
	case q == nil:
		f.doubts = append(f.doubts, "the query log was not counted")
		return
	case q.Unread != "":
		f.doubts = append(f.doubts, "the query log's counters were not read: "+q.Unread)
		return
	}
	if q.Dropped > 0 {
		f.faults = append(f.faults, fmt.Sprintf("query log: %s records dropped", thousands(int64(q.Dropped))))
	}
	if q.Lines < q.Answered {
		f.faults = append(f.faults, fmt.Sprintf("query log: %s records for %s answered queries", thousands(q.Lines), thousands(q.Answered)))
	}
}

// floors judges issue 8's floors against res.
func floors(res *results) []floor {
	o := res.opts
	var out []floor
	logOn := findVariant(res.variants, "dnsward", "query log on")
	dm, ub := find(res.hits, "dnsmasq"), find(res.hits, "unbound")
	f := floor{text: "cache hits with the query log on: at least 1.0× dnsmasq's qps and 0.8× unbound's, 0 lost, a log record for every answer"}
	if logOn != nil && dm != nil && ub != nil {
		q := logOn.Perf.QPS
		f.text += fmt.Sprintf(": %s qps = %s dnsmasq, %s unbound", thousands(int64(q)), ratio(q, dm.Perf.QPS), ratio(q, ub.Perf.QPS))
		f.judge(q >= dm.Perf.QPS && q >= 0.8*ub.Perf.QPS, logOn, dm, ub)
		f.judgeLog(res.qlog)
	}
	out = append(out, f)

	dw, ubm := find(res.missFast, "dnsward"), find(res.missFast, "unbound")
	f = floor{text: "cache misses through DNSCrypt, no delay: at least 0.5× unbound's plain-forwarding qps, 0 lost"}
	if dw != nil && ubm != nil {
		q := dw.Perf.QPS
		f.text += fmt.Sprintf(": %s qps = %s unbound", thousands(int64(q)), ratio(q, ubm.Perf.QPS))
		f.text += fmt.Sprintf(" (CPU µs per answer, server / test resolver: dnsward %s over DNSCrypt, unbound %s over plain DNS)",
			dw.perAnswerCell(), ubm.perAnswerCell())
		f.judge(q >= 0.5*ubm.Perf.QPS, dw, ubm)
	}
	out = append(out, f)

	ceiling := float64(o.outstanding) / o.delay.Seconds()
	dws := find(res.missSlow, "dnsward")
	f = floor{text: fmt.Sprintf("cache misses with the %s upstream: at least 90%% of the %s qps ceiling, 0 lost", o.delay, thousands(int64(ceiling)))}
	if dws != nil {
		q := dws.Perf.QPS
		f.text += fmt.Sprintf(": %s qps = %.0f%% of the ceiling", thousands(int64(q)), 100*q/ceiling)
		// A loss or a problem in any round counts, not only in the median.
		all := roundsOf(res.slowRounds, dws.label())
		if len(all) > 1 {
			f.text += fmt.Sprintf(", the median of %d rounds (%s qps)", len(all), roundsQPS(res.slowRounds, dws.label()))
		} else {
			all = []*runStats{dws}
		}
		f.judge(q >= 0.9*ceiling, all...)
	}
	out = append(out, f)

	half := find(res.halfRate, "dnsward")
	f = floor{text: "p99 latency of cache hits under 1 ms at half the saturation rate, a lost query counting as infinitely slow"}
	if half != nil && !math.IsNaN(half.Perf.P99()) {
		p99 := half.Perf.P99()
		f.text += fmt.Sprintf(": %s ms at %s qps", ms(p99), thousands(int64(half.Spec.RateQPS)))
		f.judge(p99 < 0.001, half)
	}
	return append(out, f)
}

func findVariant(rows []*runStats, server, variant string) *runStats {
	for _, r := range rows {
		if r.Server == server && r.Variant == variant {
			return r
		}
	}
	return nil
}

// ratio is a/b as "1.23×"; "—" when either is missing or b is zero.
func ratio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// ms formats seconds as milliseconds; "—" for NaN, "∞" when a lost query
// makes the figure.
func ms(s float64) string {
	switch {
	case math.IsNaN(s):
		return "—"
	case math.IsInf(s, 1):
		return "∞"
	}
	return fmt.Sprintf("%.3f", 1000*s)
}

// mib formats KiB as MiB.
func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// thousands formats n with comma separators: 1234567 → "1,234,567".
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
