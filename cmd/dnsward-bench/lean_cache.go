package main

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
)

// leanRounds is how often the lean-cache workload runs dnsward with the
// query log on and unbound, alternating: issue 23 asks for three runs.
const leanRounds = 3

// Issue 23's bounds: cache hits with the query log on at least leanHits
// of unbound's qps in every round, their p99 at half rate at most leanP99
// times unbound's, and at most leanBytes of resident memory per name at a
// million names, at most leanOfUnbound of unbound's.
const (
	leanHits      = 1.05
	leanP99       = 1.5
	leanBytes     = 500
	leanOfUnbound = 0.75
)

// leanVariant names the lean-cache workload's dnsward in the tables.
const leanVariant = "query log on, lean cache rounds"

// leanStats is the lean-cache workload: dnsward with the query log on and
// unbound through the cache-hit workload in alternating rounds, then
// again, each at half its median qps, for their p99.
type leanStats struct {
	Rounds           [][]*runStats
	Dnsward, Unbound *runStats // the median rounds
	HalfRounds       [][]*runStats
	Log              *logStats
}

// leanPhase is the lean-cache workload: a dnsward with the query log on and
// an unbound, warmed side by side, then run through the cache-hit workload
// leanRounds times each, alternating which goes first.
func (b *bench) leanPhase(ctx context.Context, ts *server) error {
	st := &leanStats{}
	b.res.lean = st
	b.step("lean cache: dnsward (query log on) and unbound, cache hits, %d rounds", leanRounds)
	var servers []*server
	defer func() { b.stopAll(servers...) }()
	logFile := filepath.Join(b.lab.tmp, "lean-queries.log")
	dw, err := b.startWarmed(ctx, dnswardOpts{upstream: ts.stamp, cacheSize: b.opts.cacheSize(), queryLog: logFile}, leanVariant)
	servers = append(servers, dw)
	if err != nil {
		return err
	}
	ub, err := b.lab.startUnbound(ctx, ts.port, b.opts.threads)
	servers = append(servers, ub)
	if err != nil {
		return err
	}
	if err := warm(ctx, ub, b.spec(ub.port, b.hot), b.hotNames()); err != nil {
		return err
	}
	st.Rounds = b.alternate(ctx, "lean cache", []*server{dw, ub}, leanRounds, func(s *server) *runStats {
		return measure(ctx, s, ts, s.variant, b.saturating(s.port, b.hot))
	})
	medians := medianRuns(st.Rounds)
	st.Dnsward, st.Unbound = findVariant(medians, "dnsward", leanVariant), findVariant(medians, "unbound", "")
	if st.Dnsward != nil && st.Unbound != nil {
		// Latency when not saturated, the log still on: rounds too, as
		// one run's p99 swings with whatever else the machine did. Both
		// carry the same load, half the slower one's qps, so that
		// neither runs past half its capacity and the faster is not
		// asked more for being faster.
		half := max(1, int(min(st.Dnsward.Perf.QPS, st.Unbound.Perf.QPS)/2))
		b.step("lean cache: dnsward (query log on) and unbound at %s qps, half the slower one's, %d rounds", thousands(int64(half)), leanRounds)
		st.HalfRounds = b.alternate(ctx, "lean cache, half rate", []*server{dw, ub}, leanRounds, func(s *server) *runStats {
			spec := b.spec(s.port, b.hot)
			spec.RateQPS = half
			spec.Verbose = true
			return measure(ctx, s, ts, s.variant, spec)
		})
	}
	st.Log = &logStats{}
	if m, err := scrapeMetrics(ctx, dw.metrics, "dnsward_querylog_dropped_total", "dnsward_queries_total"); err == nil {
		st.Log.Dropped, st.Log.Answered = m["dnsward_querylog_dropped_total"], int64(m["dnsward_queries_total"])
	} else {
		st.Log.Unread = err.Error()
	}
	b.stopAll(dw) // flushes the log
	servers = servers[1:]
	st.Log.Lines, st.Log.Bytes = countLines(logFile)
	return ctx.Err()
}

// leanSection writes the lean-cache workload and issue 23's floors.
func leanSection(b *strings.Builder, res *results) {
	st := res.lean
	if st == nil {
		fmt.Fprintf(b, "## Lean cache: issue 23's floors\n\nNot measured in this run.\n\n")
		return
	}
	pairSection(b, "Lean cache: cache hits with the query log on against unbound",
		fmt.Sprintf("The cache-hit run of table 1, but with %d queries outstanding (dnsperf `-q`, bench flag `-sat-q`) so that each server's capacity bounds its rate, not dnsperf's window, against a dnsward with the query log on (a file) and an unbound, started side by side and warmed; %d rounds, alternating which goes first; each row is the median round.", res.opts.satOutstanding, leanRounds),
		st.Rounds, st.Dnsward, st.Unbound, res.tmp)
	if len(st.HalfRounds) > 0 {
		fmt.Fprintf(b, "The same two at one rate, half the slower one's median qps above (dnsperf `-Q`, and `-v` for every query's latency), %d rounds, alternating which goes first. Every round's p99: %s.\n\n",
			leanRounds, strings.Join(halfP99s(st.HalfRounds), ", "))
	}
	for _, f := range leanFloors(res) {
		fmt.Fprintf(b, "- **%s** — %s\n", f.verdict(), f.line())
	}
	b.WriteString("\n")
}

// leanFloors judges issue 23's floors: hits with the log on in every
// round, p99 at half rate, and memory per name at a million names.
func leanFloors(res *results) []floor {
	hits := floor{text: fmt.Sprintf("cache hits with the query log on: at least %.2f× unbound's qps in each of %d rounds, 0 lost, only NOERROR, a log record for every answer", leanHits, leanRounds)}
	if st := res.lean; st != nil && len(st.Rounds) == leanRounds {
		met := true
		var each []string
		var runs []*runStats
		for _, round := range st.Rounds {
			dw, ub := findVariant(round, "dnsward", leanVariant), findVariant(round, "unbound", "")
			if dw == nil || ub == nil {
				met = false
				continue
			}
			each = append(each, ratio(dw.Perf.QPS, ub.Perf.QPS))
			met = met && dw.Perf.QPS >= leanHits*ub.Perf.QPS
			runs = append(runs, dw, ub)
		}
		hits.text += ": " + strings.Join(each, " / ")
		hits.judge(met && len(each) == leanRounds, runs...)
		hits.judgeLog(st.Log)
	}
	p99 := floor{text: fmt.Sprintf("p99 latency of cache hits with the query log on at half the slower server's saturation rate, the same for both: at most %.1f× unbound's, the median of %d rounds each, a lost query counting as infinitely slow", leanP99, leanRounds)}
	if st := res.lean; st != nil && len(st.HalfRounds) == leanRounds {
		dw, ub := medianP99(st.HalfRounds, "dnsward", leanVariant), medianP99(st.HalfRounds, "unbound", "")
		if dw != nil && ub != nil && !math.IsNaN(dw.Perf.P99()) && !math.IsNaN(ub.Perf.P99()) {
			d, u := dw.Perf.P99(), ub.Perf.P99()
			p99.text += fmt.Sprintf(": dnsward %s ms at %s qps, unbound %s ms at %s qps = %s", ms(d), thousands(int64(dw.Spec.RateQPS)), ms(u), thousands(int64(ub.Spec.RateQPS)), ratio(d, u))
			var runs []*runStats
			for _, round := range st.HalfRounds {
				runs = append(runs, round...)
			}
			p99.judge(d <= leanP99*u, runs...)
		}
	}
	mem := floor{text: fmt.Sprintf("resident memory at %s cached names: at most %d B per name and %.2f× unbound's", thousands(int64(res.opts.memNames)), leanBytes, leanOfUnbound)}
	if dw, ub := findMem(res.memory, "dnsward"), findMem(res.memory, "unbound"); dw != nil && ub != nil {
		n := int64(res.opts.memNames)
		d, u := dw.rssAt(n)/float64(n), ub.rssAt(n)/float64(n)
		if !math.IsNaN(d) && !math.IsNaN(u) {
			mem.text += fmt.Sprintf(": dnsward %s B per name (extrapolated RSS ÷ names), unbound %s B = %s", thousands(int64(d)), thousands(int64(u)), ratio(d, u))
			var runs []*runStats
			for _, r := range []*runStats{dw.Run, ub.Run} {
				if r != nil {
					runs = append(runs, r)
				}
			}
			mem.judge(d <= leanBytes && d <= leanOfUnbound*u, runs...)
		}
	}
	return []floor{hits, p99, mem}
}

// medianP99 is the run of server's variant with the median p99 over the
// rounds; nil when no round has it.
func medianP99(rounds [][]*runStats, server, variant string) *runStats {
	var runs []*runStats
	for _, round := range rounds {
		if r := findVariant(round, server, variant); r != nil {
			runs = append(runs, r)
		}
	}
	return medianBy(runs, func(r *runStats) float64 { return r.Perf.P99() })
}

// halfP99s is each server's p99 in every half-rate round, as "dnsward
// (query log on, ...) 1.011 / 0.982 / 1.040 ms".
func halfP99s(rounds [][]*runStats) []string {
	var out []string
	for _, first := range rounds[0] {
		out = append(out, first.label()+" "+eachRound(rounds, first.label(), func(r *runStats) string { return ms(r.Perf.P99()) })+" ms")
	}
	return out
}
