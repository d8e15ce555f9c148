package main

import (
	"context"
	"fmt"
	"time"
)

// runStats is one dnsperf run against one server, with what the system
// said about it.
type runStats struct {
	Server  string // dnsward, dnsmasq or unbound
	Variant string // e.g. "query log on"; "" for the plain configuration
	Spec    perfSpec
	Perf    *perfResult
	Wall    time.Duration // dnsperf's wall time
	// ServerCPU is the server's user plus system time during the run,
	// UpstreamCPU the test resolver's; OtherCPU is what the rest of the
	// machine used meanwhile (all CPUs busy time less the server, the test
	// resolver and dnsperf): other work that skews the figures.
	ServerCPU, UpstreamCPU, OtherCPU time.Duration
	// Drops counts kernel UDP drops on the server's sockets, UpstreamDrops
	// on the test resolver's, SysRcvbuf system-wide (dnsperf's included).
	Drops, UpstreamDrops, SysRcvbuf uint64
	RSSKiB                          int64 // the server's VmRSS after the run
	// Problems are what went wrong with the server or dnsperf; Gaps are
	// counters that could not be read, so the figures from them are not
	// to be trusted.
	Problems, Gaps []string
}

// label is the server name with its variant.
func (r *runStats) label() string {
	if r.Variant == "" {
		return r.Server
	}
	return r.Server + " (" + r.Variant + ")"
}

// cpuPct is cpu as a percentage of one core over the run's wall time.
func (r *runStats) cpuPct(cpu time.Duration) float64 {
	if r.Wall <= 0 {
		return 0
	}
	return 100 * cpu.Seconds() / r.Wall.Seconds()
}

// cpuCell is "server / dnsperf (its busiest thread) / test resolver /
// other" in % of one core.
func (r *runStats) cpuCell() string {
	if len(r.Gaps) > 0 {
		return unread
	}
	return fmt.Sprintf("%.0f / %.0f (%.0f) / %.0f / %.0f", r.cpuPct(r.ServerCPU), r.cpuPct(r.Perf.CPU), r.Perf.BusiestThreadPct,
		r.cpuPct(r.UpstreamCPU), r.cpuPct(r.OtherCPU))
}

// perAnswerCell is the server's and the test resolver's CPU time per
// answered query, "server / test resolver" in µs: what each answer cost
// whatever the run's rate, so a server slowed by a costly upstream shows it.
func (r *runStats) perAnswerCell() string {
	if len(r.Gaps) > 0 {
		return unread
	}
	if r.Perf.Completed == 0 {
		return "—"
	}
	per := func(cpu time.Duration) float64 { return float64(cpu.Microseconds()) / float64(r.Perf.Completed) }
	return fmt.Sprintf("%.0f / %.0f", per(r.ServerCPU), per(r.UpstreamCPU))
}

// unread stands in a table cell for figures whose counters could not be
// read, instead of a misleading zero.
const unread = "not read (see problems)"

// dropsCell is the kernel drops "server / test resolver / system-wide".
func (r *runStats) dropsCell() string {
	if len(r.Gaps) > 0 {
		return unread
	}
	return fmt.Sprintf("%d / %d / %d", r.Drops, r.UpstreamDrops, r.SysRcvbuf)
}

// gaps records counters that could not be read, when.
func (r *runStats) gaps(when string, gaps []string) {
	for _, g := range gaps {
		r.Gaps = append(r.Gaps, when+", could not read "+g)
	}
}

// problem records something that went wrong in the run.
func (r *runStats) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// counters is what measure reads before and after a run.
type counters struct {
	serverCPU, upstreamCPU, busy time.Duration
	drops, upstreamDrops         dropSnapshot
	sysRcvbuf                    uint64
}

// readCounters reads the counters of srv and upstream, returning with them
// a description of each one that could not be read: the figures derived
// from it would otherwise show as zeros.
func readCounters(srv, upstream *server) (c counters, gaps []string) {
	try := func(what string, err error) {
		if err != nil {
			gaps = append(gaps, fmt.Sprintf("%s: %v", what, err))
		}
	}
	var err error
	c.serverCPU, err = cpuTime(srv.proc.pid())
	try(srv.name+" CPU", err)
	c.upstreamCPU, err = cpuTime(upstream.proc.pid())
	try("test resolver CPU", err)
	c.busy, err = machineBusy()
	try("machine CPU", err)
	c.drops, err = snapshotDrops(srv.proc.pid())
	try(srv.name+" UDP drops", err)
	c.upstreamDrops, err = snapshotDrops(upstream.proc.pid())
	try("test resolver UDP drops", err)
	c.sysRcvbuf, err = rcvbufErrors()
	try("system RcvbufErrors", err)
	return c, gaps
}

// measure runs spec against srv and records the server's CPU, the kernel
// drops of srv and of its upstream (the test resolver), and its RSS; srv
// may be the test resolver itself, which is then counted once.
func measure(ctx context.Context, srv, upstream *server, variant string, spec perfSpec) *runStats {
	st := &runStats{Server: srv.name, Variant: variant, Spec: spec}
	before, gaps := readCounters(srv, upstream)
	st.gaps("before the run", gaps)
	start := time.Now()
	var err error
	st.Perf, err = runPerf(ctx, spec)
	st.Wall = time.Since(start)
	if err != nil {
		st.problem("%v", err)
	}
	if st.Perf == nil {
		st.Perf = &perfResult{}
	}
	if done, werr := srv.proc.exited(); done {
		st.problem("%s exited during the run: %v (log %s)", srv.name, werr, srv.logFile)
		return st
	}
	after, gaps := readCounters(srv, upstream)
	st.gaps("after the run", gaps)
	st.ServerCPU = after.serverCPU - before.serverCPU
	if srv != upstream {
		st.UpstreamCPU = after.upstreamCPU - before.upstreamCPU
		st.UpstreamDrops = after.upstreamDrops.since(before.upstreamDrops)
	}
	st.OtherCPU = max(0, after.busy-before.busy-st.ServerCPU-st.UpstreamCPU-st.Perf.CPU)
	st.Drops = after.drops.since(before.drops)
	st.SysRcvbuf = after.sysRcvbuf - before.sysRcvbuf
	if st.RSSKiB, err = rssKiB(srv.proc.pid()); err != nil {
		st.gaps("after the run", []string{fmt.Sprintf("%s RSS: %v", srv.name, err)})
	}
	if st.Perf.Lost > 0 {
		st.problem("%d of %d queries lost", st.Perf.Lost, st.Perf.Sent)
	}
	if rc := st.Perf.OtherRCodes(); rc != "" {
		st.problem("answers other than NOERROR: %s", rc)
	}
	return st
}

// warm sends the hot set twice without measuring, so that the measured run
// finds every name cached, and checks a sample of the answers.
func warm(ctx context.Context, srv *server, spec perfSpec, names []string) error {
	spec.MaxRuns, spec.Verbose, spec.RateQPS = 2, false, 0
	res, err := runPerf(ctx, spec)
	if err != nil {
		return fmt.Errorf("warming %s: %w", srv.name, err)
	}
	if res.Lost > 0 {
		// A miss-heavy burst can overrun a forwarder; a second pass fills
		// what the first lost.
		if _, err = runPerf(ctx, spec); err != nil {
			return fmt.Errorf("warming %s: %w", srv.name, err)
		}
	}
	if err := spotCheck(ctx, srv.port, names); err != nil {
		return fmt.Errorf("%s after warming: %w", srv.name, err)
	}
	return nil
}
