package main

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dnsward/dnsward/flows"
	"github.com/dnsward/dnsward/internal/testwait"
)

func TestPipelineMetrics(t *testing.T) {
	tests := []struct {
		name, out string
		err       error
		flowsPerS float64
		problem   string
	}{
		{name: "reported",
			out:       "goos: linux\nBenchmarkPipeline-2   \t 2000000\t 600.5 ns/op\t 1234 cpu-ns/flow\t 1665000 flows/s\t 0.9091 records/flow\t 12 B/op\t 0 allocs/op\nPASS\n",
			flowsPerS: 1665000},
		{name: "no GOMAXPROCS suffix", out: "BenchmarkPipeline 10 5 ns/op 2 cpu-ns/flow 3 flows/s 1 records/flow\n", flowsPerS: 3},
		{name: "other benchmarks only", out: "BenchmarkParsePacket-2 100 98 ns/op\nPASS\n", problem: "reported nothing"},
		{name: "failed", out: "BenchmarkPipeline-2 --- FAIL: index holds 3 entries\n", err: errors.New("exit status 1"), problem: "exit status 1"},
		{name: "metric missing", out: "BenchmarkPipeline-2 10 5 ns/op 2 cpu-ns/flow 1 records/flow\n", problem: "no flows/s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, problem := pipelineMetrics(tt.out, tt.err)
			if tt.problem != "" {
				if m != nil || !strings.Contains(problem, tt.problem) {
					t.Errorf("got %v, %q; want nil and a problem saying %q", m, problem, tt.problem)
				}
				return
			}
			if problem != "" || m["flows/s"] != tt.flowsPerS {
				t.Errorf("got %v, %q; want flows/s %v", m, problem, tt.flowsPerS)
			}
		})
	}
}

// TestSendFlowsReachSyslog sends the workload's lines to the flows
// package's own syslog listener: every one is parsed and kept as a flow
// from the workload's clients, each with a key of its own.
func TestSendFlowsReachSyslog(t *testing.T) {
	const n = 600
	var mu sync.Mutex
	keys := map[[3]string]bool{}
	s, err := flows.NewSyslog(flows.SyslogOptions{
		SourceOptions: flows.SourceOptions{
			Filter: flows.Filter{Clients: []netip.Prefix{netip.MustParsePrefix(flowClients)}},
			Emit: func(f flows.Flow) {
				mu.Lock()
				defer mu.Unlock()
				keys[[3]string{f.Client.Addr().String(), f.Dest.String(), f.Verdict.String()}] = true
			},
		},
		TCP: "127.0.0.1:0", Senders: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- s.Run(ctx) }()
	defer func() { cancel(); <-ran }()

	// Paced, as in the workload: 300 ms of lines.
	sent := sendFlows(ctx, s.TCPAddr().String(), 2000, n)
	if sent.err != nil || sent.sent != n {
		t.Fatalf("sent %d, %v; want %d", sent.sent, sent.err, n)
	}
	testwait.Until(t, "the lines sent to be kept", func() bool { return s.Stats().Kept+s.Stats().Malformed+s.Stats().NotPacket >= n })
	mu.Lock()
	defer mu.Unlock()
	if st := s.Stats(); st.Kept != n || st.Malformed+st.NotPacket+st.Rejected != 0 || len(keys) != n {
		t.Errorf("%+v, %d distinct keys; want %d kept, each its own", st, len(keys), n)
	}
}

// TestSendFlowsPaces checks that the sender has sent at least rate lines
// a second of the span it reports, and stops when ctx is done.
func TestSendFlowsPaces(t *testing.T) {
	s, err := flows.NewSyslog(flows.SyslogOptions{
		SourceOptions: flows.SourceOptions{Emit: func(flows.Flow) {}},
		TCP:           "127.0.0.1:0", Senders: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan flowSend, 1)
	go func() { done <- sendFlows(ctx, s.TCPAddr().String(), 1000, 1e6) }()
	// Cancelling at once or later: either way it ends, having kept pace.
	cancel()
	select {
	case sent := <-done:
		if sent.err != nil || float64(sent.sent) < sent.took.Seconds()*1000 {
			t.Errorf("sent %d lines in %s (%v): fewer than 1,000/s", sent.sent, sent.took, sent.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("sender did not stop after its context was cancelled")
	}
}

func TestFlowFloor(t *testing.T) {
	run := func(variant string, qps float64, lost int64) *runStats {
		return &runStats{Server: "dnsward", Variant: variant, Wall: 10 * time.Second,
			Perf: &perfResult{QPS: qps, Completed: int64(qps * 10), Sent: int64(qps*10) + lost, Lost: lost}}
	}
	load := func(sent int64, kept, malformed float64) *flowLoad {
		return &flowLoad{Sent: sent, Took: 10 * time.Second,
			Counters: map[string]float64{"dnsward_flow_source_flows_total": kept, "dnsward_flow_source_malformed_total": malformed}}
	}
	tests := []struct {
		name        string
		with, wout  float64
		lost        int64
		load        *flowLoad
		wantVerdict string
	}{
		{"met", 95000, 100000, 0, load(200000, 200000, 0), "met"},
		{"hits too slow", 89000, 100000, 0, load(200000, 200000, 0), "not met"},
		{"flows too slow", 95000, 100000, 0, load(190000, 190000, 0), "not met"},
		{"lines not processed", 95000, 100000, 0, load(200010, 200000, 0), "not met"},
		{"malformed lines", 95000, 100000, 0, load(200000, 200000, 3), "not met"},
		{"queries lost", 95000, 100000, 5, load(200000, 200000, 0), "not met"},
		{"counters unread", 95000, 100000, 0, &flowLoad{Sent: 200000, Took: 10 * time.Second, Problem: "metrics: refused"}, "inconclusive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			with, wout := run(flowsOn, tt.with, tt.lost), run(flowsOff, tt.wout, 0)
			st := &flowStats{Rounds: [][]*runStats{{wout, with}}, With: with, Without: wout, Loads: map[*runStats]*flowLoad{with: tt.load}}
			if f := flowFloorOf(st); f.verdict() != tt.wantVerdict {
				t.Errorf("verdict %q (%s), want %q", f.verdict(), f.line(), tt.wantVerdict)
			}
		})
	}
	if want := "flows at " + thousands(flowRate) + "/s"; flowsOn != want {
		t.Errorf("the row is named %q, want %q", flowsOn, want)
	}
	if f := flowFloorOf(&flowStats{}); f.verdict() != "not measured" {
		t.Errorf("nothing measured: verdict %q", f.verdict())
	}
}

// TestFlowWorkload runs the flow workload alone and prints its section:
// DNSWARD_BENCH_FLOWS=1 to run it (it needs dnsperf, builds dnsward and
// the test resolver, and loads the machine for about 2 × flowRounds ×
// DNSWARD_BENCH_L seconds, 10 unless set, after the flows package's
// benchmark).
func TestFlowWorkload(t *testing.T) {
	ctx, b, ts := workloadBench(t, "DNSWARD_BENCH_FLOWS", "the flow workload")
	if err := b.flowPhase(ctx, ts); err != nil {
		t.Fatal(err)
	}
	var s strings.Builder
	flowSection(&s, b.res.flows, b.opts, b.lab.tmp)
	t.Log("\n" + s.String())
	if st := b.res.flows; st.With == nil || st.Without == nil || st.Pipeline == nil {
		t.Errorf("incomplete: with %v, without %v, pipeline %v (%s)", st.With, st.Without, st.Pipeline, st.PipelineErr)
	}
}
