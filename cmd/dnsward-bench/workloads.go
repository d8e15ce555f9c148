package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// memStats is the memory workload's outcome for one server.
type memStats struct {
	Server            string
	BaseKiB, AfterKiB int64 // VmRSS before and after the fill
	Perf              *perfResult
	Spec              perfSpec
	Run               *runStats // CPU and kernel drops of the fill
	CacheEntries      float64   // dnsward's dnsward_cache_entries; -1 elsewhere
	Problems          []string
}

// rulesStats is dnsward with the generated blocklist loaded.
type rulesStats struct {
	Rules int
	// LoadTime runs from the process's start to the first correct answer
	// for ReadyName, a gen.test. name the list does not cover.
	LoadTime             time.Duration
	ReadyName            string
	IdleKiB, AfterHitKiB int64  // VmRSS once serving, and after the cache-hit run
	BlockedName          string // a subdomain of the list's last rule
	Blocked              bool   // BlockedName got NXDOMAIN
}

// logStats is the query-log file written during the log-on run.
type logStats struct {
	Lines, Bytes int64
	Dropped      float64 // dnsward_querylog_dropped_total
	Answered     int64   // queries answered during warm-up and run
	Unread       string  // why the two counters could not be read; "" when they were
}

// results is everything one run measured.
type results struct {
	machine  machine
	opts     options
	tmp      string
	hits     []*runStats // workload 1, dnsward then dnsmasq then unbound
	halfRate []*runStats // cache hits at half each server's measured qps
	variants []*runStats // workload 3: dnsward with the query log off, on, and 1M rules
	missFast []*runStats // workload 2, no upstream delay
	missTLS  []*tlsMiss  // workload 2 over DoT and DoH to unbound
	missSlow []*runStats // workload 2, upstream delay: each server's median round
	// slowRounds are the delayed runs of every round, in the order run.
	slowRounds [][]*runStats
	memory     []*memStats // workload 4
	rules      *rulesStats
	qlog       *logStats
	notes      []string // failures worth reporting
	elapsed    time.Duration
	// scan is the query-log scan workload.
	scan *scanStats
	// index is the answer-index workload.
	index *indexStats
	// flows is the flow workload.
	flows *flowStats
	// web is the web page workload.
	web *webStats
	// lean is the lean-cache workload (issue 23).
	lean *leanStats
	// cacheFile is the cache-file workload.
	cacheFile *cacheFileStats
}

// bench carries one run: the lab, the options, the query files and what has
// been measured so far.
type bench struct {
	lab                  *lab
	opts                 options
	res                  *results
	log                  io.Writer
	hot, miss, mem, list string   // files under the lab's directory
	slow                 []string // one delayed-miss file per round
}

// note records a failure for the report and the console.
func (b *bench) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.res.notes = append(b.res.notes, msg)
	fmt.Fprintln(b.log, "NOTE:", msg)
}

// step prints progress.
func (b *bench) step(format string, args ...any) {
	fmt.Fprintf(b.log, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// spec is the default dnsperf invocation for a server and query file. It
// is not verbose: printing every query costs dnsperf a fifth of its rate,
// which would cap the fastest servers; p99 comes from the half-rate runs.
func (b *bench) spec(port int, file string) perfSpec {
	return perfSpec{Port: port, File: file, Limit: b.opts.limit, Clients: b.opts.clients,
		Outstanding: b.opts.outstanding}
}

// saturating is spec with -sat-q queries outstanding: enough that the
// server, not dnsperf's window, bounds the rate. At -q 100 dnsward's one
// reader answers each batch before the next arrives and leaves a third
// of the two CPUs idle while unbound's two threads fill them, so its qps
// measures round-trip latency, not how many answers it can give.
func (b *bench) saturating(port int, file string) perfSpec {
	s := b.spec(port, file)
	s.Outstanding = b.opts.satOutstanding
	return s
}

// writeFiles generates the query files and the blocklist.
func (b *bench) writeFiles() error {
	dir := b.lab.tmp
	b.hot, b.miss = filepath.Join(dir, "hot.txt"), filepath.Join(dir, "miss.txt")
	b.mem, b.list = filepath.Join(dir, "memory.txt"), filepath.Join(dir, "blocklist.txt")
	o := b.opts
	errs := []error{
		writeQueries(b.hot, o.hot, hotName),
		writeQueries(b.miss, o.missNames, func(i int) string { return uniqueName("miss", i) }),
		writeQueries(b.mem, o.memNames, func(i int) string { return uniqueName("mem", i) }),
		writeBlocklist(b.list, o.rules),
	}
	for r := range o.rounds {
		file := filepath.Join(dir, fmt.Sprintf("miss-delayed-%d.txt", r+1))
		b.slow = append(b.slow, file)
		errs = append(errs, writeQueries(file, o.missNames, func(i int) string { return uniqueName(slowSet(r), i) }))
	}
	return errors.Join(errs...)
}

// slowSet names the distinct names of delayed round r, so that no round
// asks a server for a name an earlier one cached.
func slowSet(r int) string { return fmt.Sprintf("slow%d", r+1) }

// startTrio starts dnsward (over DNSCrypt), dnsmasq and unbound (plain),
// all forwarding to ts.
func (b *bench) startTrio(ctx context.Context, ts *server, cacheSize int) ([]*server, error) {
	dw, err := b.lab.startDnsward(ctx, dnswardOpts{upstream: ts.stamp, cacheSize: cacheSize})
	if err != nil {
		return nil, err
	}
	dm, err := b.lab.startDnsmasq(ctx, ts.port, cacheSize)
	if err != nil {
		return nil, err
	}
	ub, err := b.lab.startUnbound(ctx, ts.port, b.opts.threads)
	if err != nil {
		return nil, err
	}
	return []*server{dw, dm, ub}, nil
}

// plainUpstream names the dnsward that forwards to the test resolver over
// plain DNS, as dnsmasq and unbound do: beside the DNSCrypt one it shows
// what the test resolver's DNSCrypt costs.
const plainUpstream = "plain DNS upstream"

// stopAll stops the given servers.
func (b *bench) stopAll(servers ...*server) {
	for _, s := range servers {
		if s != nil {
			b.lab.fleet.stop(s.proc)
		}
	}
}

// hotNames is a sample of the hot set for spot checks.
func (b *bench) hotNames() []string { return sample(b.opts.hot, 20, hotName) }

// record keeps a run's problems and gaps as notes.
func (b *bench) record(workload string, st *runStats) *runStats {
	for _, p := range append(slices.Clone(st.Problems), st.Gaps...) {
		b.note("%s, %s: %s", workload, st.label(), p)
	}
	b.step("  %-28s %10.0f qps  avg %s ms  p99 %s ms  lost %d  server CPU %s µs an answer  other work %.0f%%", st.label(), st.Perf.QPS,
		ms(st.Perf.AvgLatency), ms(st.Perf.P99()), st.Perf.Lost, cpuPerAnswer(st), st.cpuPct(st.OtherCPU))
	return st
}

// basePhase runs workloads 1, 3 and 2 (no delay) and the half-rate
// latency run against one set of servers forwarding to an undelayed test
// resolver, then 2a: the misses over DoT and DoH.
func (b *bench) basePhase(ctx context.Context, ts *server) error {
	servers, err := b.startTrio(ctx, ts, b.opts.cacheSize())
	defer b.stopAll(servers...)
	if err != nil {
		return err
	}
	b.step("workload 1: cache hits (%d names)", b.opts.hot)
	for _, s := range servers {
		if err := warm(ctx, s, b.spec(s.port, b.hot), b.hotNames()); err != nil {
			return err
		}
		b.res.hits = append(b.res.hits, b.record("cache hits", measure(ctx, s, ts, "", b.spec(s.port, b.hot))))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.step("cache hits at half each server's measured qps")
	for i, s := range servers {
		spec := b.spec(s.port, b.hot)
		spec.RateQPS = max(1, int(b.res.hits[i].Perf.QPS/2))
		spec.Verbose = true
		b.res.halfRate = append(b.res.halfRate, b.record("half rate", measure(ctx, s, ts, "", spec)))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := b.variantRuns(ctx, ts, servers[0]); err != nil {
		return err
	}
	b.step("workload 2: cache misses, %d unique names, no upstream delay", b.opts.missNames)
	if b.res.missFast, err = b.missRuns(ctx, ts, servers, b.miss, "miss", "cache misses"); err != nil {
		return err
	}
	return b.tlsMissPhase(ctx, ts)
}

// missRuns sends each name of file once to each server, and to a dnsward
// forwarding to ts over plain DNS that it starts for the purpose, and
// checks a sample of the names that were sent.
func (b *bench) missRuns(ctx context.Context, ts *server, servers []*server, file, set, workload string) ([]*runStats, error) {
	plain, err := b.lab.startDnsward(ctx, dnswardOpts{upstream: fmt.Sprintf("udp://127.0.0.1:%d", ts.port), cacheSize: b.opts.cacheSize()})
	defer b.stopAll(plain)
	if err != nil {
		return nil, err
	}
	plain.variant = plainUpstream
	var out []*runStats
	for _, s := range append(servers, plain) {
		if ctx.Err() != nil {
			break
		}
		spec := b.spec(s.port, file)
		spec.MaxRuns = 1
		st := measure(ctx, s, ts, s.variant, spec)
		names := sample(int(st.Perf.Sent), 20, func(i int) string { return uniqueName(set, i) })
		if err := spotCheck(ctx, s.port, names); err != nil {
			st.problem("spot check after the run: %v", err)
		}
		out = append(out, b.record(workload, st))
	}
	return out, nil
}

// variantRuns is workload 3: the cache-hit run again for dnsward with the
// query log off (the base instance), on (a file sink), and with the
// generated blocklist loaded.
func (b *bench) variantRuns(ctx context.Context, ts, base *server) error {
	b.step("workload 3: dnsward cache hits with the query log off, on, and %d rules", b.opts.rules)
	b.res.variants = append(b.res.variants, b.record("variants", measure(ctx, base, ts, "query log off", b.spec(base.port, b.hot))))

	logFile := filepath.Join(b.lab.tmp, "queries.log")
	dw, err := b.lab.startDnsward(ctx, dnswardOpts{upstream: ts.stamp, cacheSize: b.opts.cacheSize(), queryLog: logFile})
	if err != nil {
		return err
	}
	if err := warm(ctx, dw, b.spec(dw.port, b.hot), b.hotNames()); err != nil {
		b.stopAll(dw)
		return err
	}
	st := b.record("variants", measure(ctx, dw, ts, "query log on", b.spec(dw.port, b.hot)))
	b.res.variants = append(b.res.variants, st)
	ql := &logStats{}
	if m, err := scrapeMetrics(ctx, dw.metrics, "dnsward_querylog_dropped_total", "dnsward_queries_total"); err == nil {
		ql.Dropped, ql.Answered = m["dnsward_querylog_dropped_total"], int64(m["dnsward_queries_total"])
	} else {
		ql.Unread = err.Error()
		b.note("query log run: metrics: %v", err)
	}
	b.stopAll(dw) // flushes the log
	ql.Lines, ql.Bytes = countLines(logFile)
	b.res.qlog = ql
	os.Remove(logFile)

	dw, err = b.lab.startDnsward(ctx, dnswardOpts{upstream: ts.stamp, cacheSize: b.opts.cacheSize(),
		blocklist: b.list, ready: 3 * time.Minute})
	if err != nil {
		return err
	}
	defer b.stopAll(dw)
	rs := &rulesStats{Rules: b.opts.rules, LoadTime: dw.answered.Sub(dw.proc.started), ReadyName: readyName(dw),
		BlockedName: "x." + blockedName(b.opts.rules-1)}
	rs.Blocked, err = isBlocked(ctx, dw.port, rs.BlockedName)
	if err != nil || !rs.Blocked {
		b.note("%s rules: %s not blocked (err %v)", thousands(int64(b.opts.rules)), rs.BlockedName, err)
	}
	if rs.IdleKiB, err = rssKiB(dw.proc.pid()); err != nil {
		b.note("%s rules: RSS once serving: %v", thousands(int64(b.opts.rules)), err)
	}
	if err := warm(ctx, dw, b.spec(dw.port, b.hot), b.hotNames()); err != nil {
		return err
	}
	variant := fmt.Sprintf("%s rules", thousands(int64(b.opts.rules)))
	st = b.record("variants", measure(ctx, dw, ts, variant, b.spec(dw.port, b.hot)))
	b.res.variants = append(b.res.variants, st)
	rs.AfterHitKiB = st.RSSKiB
	b.res.rules = rs
	return nil
}

// countLines counts the lines and bytes of a file; zero when it is missing.
func countLines(path string) (lines, size int64) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		n, err := f.Read(buf)
		lines += int64(bytes.Count(buf[:n], []byte{'\n'}))
		size += int64(n)
		if err != nil {
			return lines, size
		}
	}
}

// delayedPhase is workload 2 against a test resolver that waits before
// every answer: a fresh set of servers forwarding to it.
func (b *bench) delayedPhase(ctx context.Context) error {
	b.step("workload 2: cache misses, %d unique names, upstream delay %s", b.opts.missNames, b.opts.delay)
	ts, err := b.lab.startTestServer(ctx, b.opts.delay)
	if err != nil {
		return err
	}
	defer b.stopAll(ts)
	servers, err := b.startTrio(ctx, ts, b.opts.cacheSize())
	defer b.stopAll(servers...)
	if err != nil {
		return err
	}
	// One 10 s run moved by a few percent from run to run on a shared
	// VM, as much as the floor's margin, so every server runs each round,
	// interleaved with the others, and the median round is reported.
	for r, file := range b.slow {
		if ctx.Err() != nil {
			break
		}
		b.step("  round %d of %d", r+1, len(b.slow))
		runs, err := b.missRuns(ctx, ts, servers, file, slowSet(r), "cache misses, delayed")
		if err != nil {
			return err
		}
		if ctx.Err() == nil {
			// What dnsperf gets with no forwarder between: the ceiling as
			// this machine measures it, below the arithmetic one by the
			// test resolver's and dnsperf's own time.
			spec := b.spec(ts.port, file)
			spec.MaxRuns = 1
			runs = append(runs, b.record("cache misses, delayed", measure(ctx, ts, ts, directRow, spec)))
		}
		b.res.slowRounds = append(b.res.slowRounds, runs)
	}
	b.res.missSlow = medianRuns(b.res.slowRounds)
	return ctx.Err()
}

// memoryPhase is workload 4: fresh servers, each filled with distinct
// names, one at a time, its RSS read before and after.
func (b *bench) memoryPhase(ctx context.Context, ts *server) error {
	b.step("workload 4: memory after %d distinct names (at most %d s each)", b.opts.memNames, b.opts.memLimit)
	start := []func() (*server, error){
		func() (*server, error) {
			return b.lab.startDnsward(ctx, dnswardOpts{upstream: ts.stamp, cacheSize: b.opts.cacheSize()})
		},
		func() (*server, error) { return b.lab.startDnsmasq(ctx, ts.port, b.opts.cacheSize()) },
		func() (*server, error) { return b.lab.startUnbound(ctx, ts.port, b.opts.threads) },
	}
	for _, startOne := range start {
		if err := ctx.Err(); err != nil {
			return err
		}
		s, err := startOne()
		if err != nil {
			b.stopAll(s)
			return err
		}
		b.res.memory = append(b.res.memory, b.fill(ctx, s, ts))
		b.stopAll(s)
	}
	return nil
}

// fill sends the memory workload's names once to s and reads its RSS.
func (b *bench) fill(ctx context.Context, s, ts *server) *memStats {
	m := &memStats{Server: s.name, CacheEntries: -1}
	var err error
	if m.BaseKiB, err = rssKiB(s.proc.pid()); err != nil {
		m.Problems = append(m.Problems, fmt.Sprintf("RSS before the fill: %v", err))
	}
	m.Spec = perfSpec{Port: s.port, File: b.mem, Limit: b.opts.memLimit, Clients: b.opts.clients,
		Outstanding: b.opts.memOutstanding, MaxRuns: 1}
	st := measure(ctx, s, ts, "", m.Spec)
	m.Perf, m.Run = st.Perf, st
	m.Problems = append(append(m.Problems, st.Problems...), st.Gaps...)
	// Let deferred work (log flushes, cache inserts) settle before reading.
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
	}
	if m.AfterKiB, err = rssKiB(s.proc.pid()); err != nil {
		m.Problems = append(m.Problems, fmt.Sprintf("RSS after the fill: %v", err))
	}
	names := sample(int(m.Perf.Sent), 20, func(i int) string { return uniqueName("mem", i) })
	if err := spotCheck(ctx, s.port, names); err != nil {
		m.Problems = append(m.Problems, fmt.Sprintf("spot check after the fill: %v", err))
	}
	if s.metrics != "" {
		if v, err := scrapeMetrics(ctx, s.metrics, "dnsward_cache_entries"); err == nil {
			m.CacheEntries = v["dnsward_cache_entries"]
		} else {
			m.Problems = append(m.Problems, fmt.Sprintf("metrics: %v", err))
		}
	}
	for _, p := range m.Problems {
		b.note("memory, %s: %s", s.name, p)
	}
	b.step("  %-10s RSS %s -> %s KiB, %d answered", s.name, thousands(m.BaseKiB), thousands(m.AfterKiB), m.Perf.Completed)
	return m
}

// medianRuns is, for each server and variant of the first round, its run
// of median qps over the rounds (the lower of the two middle ones when
// even, so that the table never rounds up).
func medianRuns(rounds [][]*runStats) []*runStats {
	if len(rounds) == 0 {
		return nil
	}
	var out []*runStats
	for _, first := range rounds[0] {
		out = append(out, medianBy(roundsOf(rounds, first.label()), func(r *runStats) float64 { return r.Perf.QPS }))
	}
	return out
}

// medianBy is the run of median key among runs (the lower of the two
// middle ones when even), which it sorts; nil when there are none.
func medianBy(runs []*runStats, key func(*runStats) float64) *runStats {
	if len(runs) == 0 {
		return nil
	}
	slices.SortFunc(runs, func(a, b *runStats) int { return cmp.Compare(key(a), key(b)) })
	return runs[(len(runs)-1)/2]
}

// roundsOf is the runs labelled label, one per round that has it, in the
// order run.
func roundsOf(rounds [][]*runStats, label string) []*runStats {
	var runs []*runStats
	for _, round := range rounds {
		for _, r := range round {
			if r.label() == label {
				runs = append(runs, r)
			}
		}
	}
	return runs
}
