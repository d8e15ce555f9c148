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
	Problems                        []string
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

// cpuCell is "server / dnsperf / test resolver / other" in % of one core.
func (r *runStats) cpuCell() string {
	return fmt.Sprintf("%.0f / %.0f / %.0f / %.0f", r.cpuPct(r.ServerCPU), r.cpuPct(r.Perf.CPU), r.cpuPct(r.UpstreamCPU), r.cpuPct(r.OtherCPU))
}

// problem records something that went wrong in the run.
func (r *runStats) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// measure runs spec against srv and records the server's CPU, the kernel
// drops of srv and of its upstream (the test resolver), and its RSS.
func measure(ctx context.Context, srv, upstream *server, variant string, spec perfSpec) *runStats {
	st := &runStats{Server: srv.name, Variant: variant, Spec: spec}
	cpu0, err := cpuTime(srv.proc.pid())
	if err != nil {
		st.problem("cpu before: %v", err)
	}
	up0, _ := cpuTime(upstream.proc.pid())
	busy0, _ := machineBusy()
	d0, _ := snapshotDrops(srv.proc.pid())
	u0, _ := snapshotDrops(upstream.proc.pid())
	sys0, _ := rcvbufErrors()
	start := time.Now()
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
	cpu1, err := cpuTime(srv.proc.pid())
	if err != nil {
		st.problem("cpu after: %v", err)
	}
	st.ServerCPU = cpu1 - cpu0
	up1, _ := cpuTime(upstream.proc.pid())
	busy1, _ := machineBusy()
	st.UpstreamCPU = up1 - up0
	st.OtherCPU = max(0, busy1-busy0-st.ServerCPU-st.UpstreamCPU-st.Perf.CPU)
	d1, _ := snapshotDrops(srv.proc.pid())
	u1, _ := snapshotDrops(upstream.proc.pid())
	sys1, _ := rcvbufErrors()
	st.Drops, st.UpstreamDrops, st.SysRcvbuf = d1.since(d0), u1.since(u0), sys1-sys0
	st.RSSKiB, _ = rssKiB(srv.proc.pid())
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
