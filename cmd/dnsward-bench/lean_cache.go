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
// unbound through the cache-hit workload in alternating rounds.
type leanStats struct {
	Rounds           [][]*runStats
	Dnsward, Unbound *runStats // the median rounds
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
		return measure(ctx, s, ts, s.variant, b.spec(s.port, b.hot))
	})
	medians := medianRuns(st.Rounds)
	st.Dnsward, st.Unbound = findVariant(medians, "dnsward", leanVariant), findVariant(medians, "unbound", "")
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
		fmt.Sprintf("The cache-hit run of table 1 against a dnsward with the query log on (a file) and an unbound, started side by side and warmed; %d rounds, alternating which goes first; each row is the median round.", leanRounds),
		st.Rounds, st.Dnsward, st.Unbound, res.tmp)
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
	p99 := floor{text: fmt.Sprintf("p99 latency of cache hits at half the saturation rate: at most %.1f× unbound's, a lost query counting as infinitely slow", leanP99)}
	if dw, ub := find(res.halfRate, "dnsward"), find(res.halfRate, "unbound"); dw != nil && ub != nil && !math.IsNaN(dw.Perf.P99()) && !math.IsNaN(ub.Perf.P99()) {
		d, u := dw.Perf.P99(), ub.Perf.P99()
		p99.text += fmt.Sprintf(": dnsward %s ms at %s qps, unbound %s ms at %s qps = %s", ms(d), thousands(int64(dw.Spec.RateQPS)), ms(u), thousands(int64(ub.Spec.RateQPS)), ratio(d, u))
		p99.judge(d <= leanP99*u, dw, ub)
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
