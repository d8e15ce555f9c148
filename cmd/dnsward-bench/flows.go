package main

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// flowRate is issue 21's flow load: firewall log lines per second sent to
// dnsward's syslog listener during its cache-hit run.
const flowRate = 20000

// flowRounds is how often the flow workload runs dnsward's cache hits
// without and with the flow load, alternating; each row is the median.
const flowRounds = 5

// flowHitFloor is issue 21's bound on what the flows cost DNS: cache-hit
// qps with the flow load at least this share of the qps without.
const flowHitFloor = 0.90

// The flow workload's two dnsward instances, as the table names them.
const (
	flowsOff = "no flows"
	flowsOn  = "flows at 20,000/s" // flowRate
)

// flowCounters are dnsward's flow metrics the workload reads before and
// after each run under the flow load.
var flowCounters = []string{
	"dnsward_flow_source_flows_total", "dnsward_flow_source_malformed_total", "dnsward_flow_source_rejected_total",
	"dnsward_flow_source_errors_total", "dnsward_flows_folded_total", "dnsward_flows_rate_dropped_total", "dnsward_flows_total",
}

// flowPipelineMetrics are the units BenchmarkPipeline reports that the
// workload needs.
var flowPipelineMetrics = []string{"flows/s", "cpu-ns/flow", "records/flow"}

// flowStats is the flow workload: the flow pipeline's own rate with a
// full answer index, and dnsward's cache hits without and with flows.
type flowStats struct {
	// Pipeline is BenchmarkPipeline's metrics by unit; PipelineErr says
	// why they are missing.
	Pipeline    map[string]float64
	PipelineErr string
	// Rounds are the cache-hit runs, without then with the flow load in
	// odd rounds and the other way round in even ones; Without and With
	// are the median rounds.
	Rounds        [][]*runStats
	Without, With *runStats
	// Loads is the flow load of each run with flows.
	Loads map[*runStats]*flowLoad
}

// flowLoad is what was sent to dnsward during one run and what it did.
type flowLoad struct {
	Sent int64
	// Took is the span over which the Sent lines were due.
	Took time.Duration
	// SenderCPU is this process's CPU time over the run: the sender's,
	// counted out of the run's "other work".
	SenderCPU time.Duration
	// Counters is the growth of dnsward's flowCounters over the run.
	Counters map[string]float64
	// Problem says what went wrong with the sender or the counters.
	Problem string
}

// processed is the flow events dnsward's syslog source kept per second.
func (l *flowLoad) processed() float64 {
	if l.Took <= 0 {
		return 0
	}
	return l.Counters["dnsward_flow_source_flows_total"] / l.Took.Seconds()
}

// faults are what the load lost; none when its counters were not read.
func (l *flowLoad) faults() []string {
	if l.Counters == nil {
		return nil
	}
	var out []string
	if l.Problem != "" {
		out = append(out, l.Problem)
	}
	if kept := int64(l.Counters["dnsward_flow_source_flows_total"]); kept < l.Sent {
		out = append(out, fmt.Sprintf("%s of %s lines sent not processed", thousands(l.Sent-kept), thousands(l.Sent)))
	}
	// Malformed, rejected and failed reads: lines lost in dnsward.
	for _, c := range flowCounters[1:4] {
		if v := l.Counters[c]; v > 0 {
			out = append(out, fmt.Sprintf("%s %s", c, thousands(int64(v))))
		}
	}
	return out
}

// flowPhase is the flow workload: BenchmarkPipeline's rate, then two
// dnsward instances, one with a syslog flow listener, run through the
// cache-hit workload flowRounds times, alternating, the second with
// flowRate firewall log lines a second arriving.
func (b *bench) flowPhase(ctx context.Context, ts *server) error {
	st := &flowStats{Loads: map[*runStats]*flowLoad{}}
	b.res.flows = st
	b.step("flows: join and suppression with a full answer index (go test -bench in ./flows)")
	st.Pipeline, st.PipelineErr = flowPipeline(ctx)
	if st.PipelineErr != "" {
		b.note("flows: %s", st.PipelineErr)
	} else {
		b.step("  %s flows/s, %.2f CPU µs per flow", thousands(int64(st.Pipeline["flows/s"])), st.Pipeline["cpu-ns/flow"]/1e3)
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	b.step("flows: dnsward cache hits without and with %s flow lines/s over syslog, %d rounds", thousands(flowRate), flowRounds)
	port, err := b.lab.freePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var servers []*server
	defer func() { b.stopAll(servers...) }()
	// The listener first, while its port is surely free: the other
	// instance's warming opens a thousand upstream sockets on ports the
	// kernel picks. One run's listener instance exited at start, and
	// losing its port to them is the likeliest reason.
	for _, o := range []struct {
		variant, syslog string
	}{{flowsOn, addr}, {flowsOff, ""}} {
		s, err := b.startWarmed(ctx, dnswardOpts{upstream: ts.stamp, cacheSize: b.opts.cacheSize(), flowsSyslog: o.syslog}, o.variant)
		servers = append(servers, s)
		if err != nil {
			return err
		}
	}
	slices.Reverse(servers) // the rounds start without flows, as before
	st.Rounds = b.alternate(ctx, "flows", servers, flowRounds, func(s *server) *runStats {
		if s.variant != flowsOn {
			return measure(ctx, s, ts, s.variant, b.saturating(s.port, b.hot))
		}
		run, load := b.underFlows(ctx, s, ts, addr)
		st.Loads[run] = load
		b.step("  %s lines sent in %s, %s processed/s, %d kernel drops on dnsward's sockets", thousands(load.Sent), load.Took.Round(time.Millisecond),
			thousands(int64(load.processed())), run.Drops)
		return run
	})
	medians := medianRuns(st.Rounds)
	st.Without, st.With = findVariant(medians, "dnsward", flowsOff), findVariant(medians, "dnsward", flowsOn)
	return ctx.Err()
}

// underFlows runs the cache-hit workload against s while flowRate lines a
// second go to its syslog listener at addr, and reads what it made of them.
func (b *bench) underFlows(ctx context.Context, s, ts *server, addr string) (*runStats, *flowLoad) {
	load := &flowLoad{}
	before, err := scrapeMetrics(ctx, s.metrics, flowCounters...)
	if err != nil {
		load.Problem = fmt.Sprintf("metrics before the run: %v", err)
	}
	cpu0 := selfCPU()
	sctx, stop := context.WithCancel(ctx)
	done := make(chan flowSend, 1)
	// At most the run's length and a margin's worth of lines: dnsperf's
	// -l bounds the run, the cancel below ends the sender with it.
	limit := int64(flowRate * (b.opts.limit + 30))
	go func() { done <- sendFlows(sctx, addr, flowRate, limit) }()
	run := measure(ctx, s, ts, s.variant, b.saturating(s.port, b.hot))
	stop()
	sent := <-done
	load.Sent, load.Took, load.SenderCPU = sent.sent, sent.took, selfCPU()-cpu0
	run.OtherCPU = max(0, run.OtherCPU-load.SenderCPU)
	if sent.err != nil {
		load.Problem = fmt.Sprintf("sender: %v", sent.err)
	}
	if load.Problem != "" {
		return run, load
	}
	// Lines still in the socket's buffer are processed after the sender
	// stops: wait for them, briefly.
	deadline := time.Now().Add(2 * time.Second)
	for {
		after, err := scrapeMetrics(ctx, s.metrics, flowCounters...)
		if err != nil {
			load.Problem = fmt.Sprintf("metrics after the run: %v", err)
			return run, load
		}
		load.Counters = map[string]float64{}
		for _, c := range flowCounters {
			load.Counters[c] = after[c] - before[c]
		}
		if int64(load.Counters[flowCounters[0]]) >= load.Sent || time.Now().After(deadline) || ctx.Err() != nil {
			return run, load
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

// flowSend is what sendFlows did.
type flowSend struct {
	sent int64
	took time.Duration
	err  error
}

// sendEvery is how often sendFlows sends the lines due. The sender stands
// for a remote firewall, whose CPU is not the resolver host's: larger
// bursts cost it less per line and dnsward no more (BENCHMARKS.md,
// twelfth round).
const sendEvery = 5 * time.Millisecond

// sendFlows sends firewall log lines to addr over TCP, octet-counted
// (RFC 6587), at rate a second: every sendEvery the lines due by then in
// one write, as a syslog daemon under load forwards them, until ctx is
// done or limit lines are sent. took is the time by which the sent lines
// were due, so sent/took is at least rate. TCP, as README advises a
// firewall sending thousands of lines a second: over UDP on this one
// machine, each datagram's delivery costs both sides of the measure
// (BENCHMARKS.md, thirteenth round).
func sendFlows(ctx context.Context, addr string, rate int, limit int64) flowSend {
	var out flowSend
	to, err := netip.ParseAddrPort(addr)
	if err != nil {
		out.err = err
		return out
	}
	c, err := net.DialTCP("tcp4", nil, net.TCPAddrFromAddrPort(to))
	if err != nil {
		out.err = err
		return out
	}
	defer c.Close()
	// The waits between bursts are raw sleeps on a thread of the sender's
	// own: woken by a Go timer, the runtime's monitor thread woke and
	// polled too, on CPU that dnsperf and dnsward share (BENCHMARKS.md,
	// thirteenth round).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var line, frames []byte
	began := time.Now()
	for tick := 1; out.sent < limit && ctx.Err() == nil; tick++ {
		el := time.Since(began)
		due := min(limit, int64(math.Ceil(el.Seconds()*float64(rate))))
		frames = frames[:0]
		for i := out.sent; i < due; i++ {
			line = flowLine(line[:0], i)
			frames = strconv.AppendInt(frames, int64(len(line)), 10)
			frames = append(append(frames, ' '), line...)
		}
		if len(frames) > 0 {
			if _, err := c.Write(frames); err != nil {
				out.err = fmt.Errorf("lines %d-%d to %s: %w", out.sent, due-1, addr, err)
				return out
			}
		}
		out.sent, out.took = due, el
		sleepUntil(began.Add(time.Duration(tick) * sendEvery))
	}
	return out
}

// sleepUntil sleeps the calling thread until t in a raw system call, which
// the Go scheduler does not see: the goroutine keeps its processor and no
// other thread wakes. A signal (the runtime preempting a goroutine it sees
// running long) cuts the sleep short; the rest is slept again.
func sleepUntil(t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	ts := unix.NsecToTimespec(int64(d))
	for {
		var rest unix.Timespec
		_, _, e := unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), uintptr(unsafe.Pointer(&rest)), 0)
		if e != unix.EINTR {
			return
		}
		ts = rest
	}
}

// flowLine appends the i-th firewall log line: a kernel LOG line of a
// dropped TCP connection, as a router's syslog sends it, from a client of
// its own in flowClients (10.0.0.0/8 holds 2^24), so that no line folds
// into another's suppression window: each opens one and is joined, the
// pipeline's worst case, as in BenchmarkPipeline.
func flowLine(b []byte, i int64) []byte {
	b = append(b, "<4>Dec  2 01:00:00 router kernel: dnsward-drop IN=eth1 OUT=eth0 SRC=10."...)
	b = strconv.AppendInt(b, i>>16&255, 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, i>>8&255, 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, i&255, 10)
	b = append(b, " DST=192.0.2."...)
	b = strconv.AppendInt(b, 1+i%250, 10)
	b = append(b, " LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=4242 DF PROTO=TCP SPT="...)
	b = strconv.AppendInt(b, 32768+i%28000, 10)
	b = append(b, " DPT="...)
	b = strconv.AppendInt(b, []int64{443, 80, 25, 8443}[i%4], 10)
	return append(b, " WINDOW=64240 RES=0x00 SYN URGP=0"...)
}

// selfCPU is this process's user and system CPU time so far; zero when it
// cannot be read.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// flowPipeline runs the flows package's BenchmarkPipeline (suppression and
// the join against the real answer index holding 1,000,000 entries) and
// reads its metrics; the string says why they are missing.
func flowPipeline(ctx context.Context) (map[string]float64, string) {
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "^BenchmarkPipeline$", "github.com/dnsward/dnsward/flows")
	out, err := cmd.Output()
	return pipelineMetrics(string(out), err)
}

// pipelineMetrics picks BenchmarkPipeline's metrics out of go test's
// output; err is how go test ended.
func pipelineMetrics(out string, err error) (map[string]float64, string) {
	for _, r := range parseBenchMetrics(out) {
		if r.name != "BenchmarkPipeline" {
			continue
		}
		for _, u := range flowPipelineMetrics {
			if r.metrics[u] <= 0 {
				return nil, fmt.Sprintf("BenchmarkPipeline reported no %s", u)
			}
		}
		return r.metrics, ""
	}
	if err != nil {
		return nil, fmt.Sprintf("go test -bench BenchmarkPipeline ./flows: %v", err)
	}
	return nil, "BenchmarkPipeline reported nothing"
}

// flowSection writes the flow workload's figures and its floor.
func flowSection(b *strings.Builder, st *flowStats, o options, tmp string) {
	b.WriteString("## Flows: events per second, and the cost to cache hits\n\n")
	if st == nil {
		b.WriteString("Not measured in this run.\n\n")
		return
	}
	b.WriteString("Suppression and the join against the real answer index holding 1,000,000 entries, in process (the flows package's `go test -run '^$' -bench '^BenchmarkPipeline$' ./flows`: 200,000 distinct keys cycled, so every flow opens a window and is joined, the worst case):\n\n")
	if st.Pipeline == nil {
		fmt.Fprintf(b, "Not measured: %s.\n\n", st.PipelineErr)
	} else {
		fmt.Fprintf(b, "| flows/s (one goroutine) | CPU µs per flow | records per flow |\n|---:|---:|---:|\n| %s | %.2f | %.2f |\n\n",
			thousands(int64(st.Pipeline["flows/s"])), st.Pipeline["cpu-ns/flow"]/1e3, st.Pipeline["records/flow"])
	}
	pairSection(b, "Flows arriving during cache hits",
		fmt.Sprintf("The cache-hit run of table 1, but with %d queries outstanding (dnsperf `-q`, bench flag `-sat-q`) so that dnsward's capacity bounds its rate, not dnsperf's window, against two dnsward instances started side by side and warmed, one with a syslog flow listener (`flows.syslog.tcp` on loopback, `flows.clients: [%q]`, the other flow settings at their defaults) sent %s kernel LOG lines a second over TCP from this process while dnsperf runs (each line a new client, so none folds: every one is joined); the sender's CPU is left out of the \"other\" CPU figure. %d rounds, alternating which goes first; each row is the median round.",
			o.satOutstanding, flowClients, thousands(flowRate), flowRounds),
		st.Rounds, st.Without, st.With, tmp)
	if st.With != nil {
		if l := st.Loads[st.With]; l != nil {
			c := l.Counters
			fmt.Fprintf(b, "Median round with flows: %s lines sent in %s (%s/s); dnsward's syslog source processed %s (`dnsward_flow_source_flows_total`, %s/s), malformed %s, rejected %s, errors %s; %s records emitted, %s dropped by the `flows.rate` cap, %s folded; the sender used %s of CPU.",
				thousands(l.Sent), l.Took.Round(time.Millisecond), thousands(int64(float64(l.Sent)/l.Took.Seconds())),
				thousands(int64(c[flowCounters[0]])), thousands(int64(l.processed())), thousands(int64(c[flowCounters[1]])), thousands(int64(c[flowCounters[2]])),
				thousands(int64(c[flowCounters[3]])), thousands(int64(c["dnsward_flows_total"])), thousands(int64(c["dnsward_flows_rate_dropped_total"])),
				thousands(int64(c["dnsward_flows_folded_total"])), l.SenderCPU.Round(time.Millisecond))
			if per := flowCPUPerFlow(st.With, st.Without, l); per > 0 {
				fmt.Fprintf(b, " dnsward's CPU per flow, estimated as its CPU in that run less its answers at the CPU per answer of the run without flows, per flow processed: %.1f µs.", per)
			}
			b.WriteString("\n\n")
		}
	}
	f := flowFloorOf(st)
	fmt.Fprintf(b, "- **%s** — %s\n\n", f.verdict(), f.line())
}

// flowCPUPerFlow estimates dnsward's CPU µs per flow in the run with
// flows: its CPU less what its answers cost at the rate of the run
// without, over the flows processed; 0 when it cannot be told.
func flowCPUPerFlow(with, without *runStats, l *flowLoad) float64 {
	kept := l.Counters[flowCounters[0]]
	if without == nil || without.Perf.Completed == 0 || kept == 0 || len(with.Gaps)+len(without.Gaps) > 0 {
		return 0
	}
	perAnswer := float64(without.ServerCPU) / float64(without.Perf.Completed)
	return (float64(with.ServerCPU) - perAnswer*float64(with.Perf.Completed)) / 1e3 / kept
}

// flowFloorOf judges issue 21's floor: in every round with flows, at
// least flowRate flow events a second processed with none lost, and
// cache-hit qps with the flows at least flowHitFloor of the qps without.
func flowFloorOf(st *flowStats) floor {
	f := floor{text: fmt.Sprintf("flows: at least %s flow events/s processed, every line sent processed, with cache hits at least %.2f× their qps without flows, 0 lost",
		thousands(flowRate), flowHitFloor)}
	if st.With == nil || st.Without == nil {
		return f
	}
	with, without := st.With.Perf.QPS, st.Without.Perf.QPS
	runs := roundsOf(st.Rounds, st.With.label())
	met := with >= flowHitFloor*without
	var rates []string
	for _, r := range runs {
		l := st.Loads[r]
		if l == nil || l.Counters == nil {
			met = false
			continue
		}
		rates = append(rates, thousands(int64(l.processed())))
		met = met && l.processed() >= flowRate
	}
	f.text += fmt.Sprintf(": %s flow events/s processed in the rounds with flows; %s qps with flows, %s without = %s (dnsward's CPU per answer: %s µs with, %s µs without)",
		strings.Join(rates, " / "), thousands(int64(with)), thousands(int64(without)), ratio(with, without), cpuPerAnswer(st.With), cpuPerAnswer(st.Without))
	f.judge(met, append(runs, roundsOf(st.Rounds, st.Without.label())...)...)
	for i, r := range runs {
		if l := st.Loads[r]; l != nil {
			if l.Counters == nil {
				f.doubts = append(f.doubts, fmt.Sprintf("round %d's flow counters were not read: %s", i+1, l.Problem))
			}
			for _, fault := range l.faults() {
				f.faults = append(f.faults, fmt.Sprintf("round %d's flows: %s", i+1, fault))
			}
		}
	}
	return f
}
