package main

import (
	"strings"
	"testing"
	"time"
)

// Issue 23's floors: every round's hits at 1.05× unbound, the log whole,
// p99 at half rate, and memory per name at a million names under both
// bounds.
func TestLeanFloors(t *testing.T) {
	run := func(server, variant string, qps float64, lat ...float64) *runStats {
		return &runStats{Server: server, Variant: variant, Wall: 10 * time.Second, OtherCPU: time.Second,
			Perf: &perfResult{QPS: qps, Latencies: lat, RCodes: "NOERROR 100 (100.00%)", CPU: 5 * time.Second, Completed: 400000},
			Spec: perfSpec{RateQPS: int(qps)}}
	}
	round := func(dw, ub float64) []*runStats {
		return []*runStats{run("dnsward", leanVariant, dw), run("unbound", "", ub)}
	}
	// half is a half-rate round: dnsward's p99 and unbound's.
	half := func(dw, ub float64) []*runStats {
		return []*runStats{run("dnsward", leanVariant, 55000, 0.0002, dw), run("unbound", "", 47000, 0.0002, ub)}
	}
	mem := func(server string, baseKiB, afterKiB int64) *memStats {
		r := run(server, "", 10000)
		return &memStats{Server: server, BaseKiB: baseKiB, AfterKiB: afterKiB, Perf: r.Perf, Run: r}
	}
	base := func() *results {
		return &results{
			opts: options{memNames: 1000000},
			lean: &leanStats{Rounds: [][]*runStats{round(110, 100), round(120, 100), round(106, 100)},
				// p99 medians 1.2 and 0.9 ms, met though one round is 2.9×.
				HalfRounds: [][]*runStats{half(0.0012, 0.0010), half(0.0020, 0.0007), half(0.0011, 0.0009)},
				Log:        &logStats{Lines: 10, Answered: 10}},
			// 400,000 names: 40,000 KiB of growth is 102 B a name.
			memory: []*memStats{mem("dnsward", 16000, 56000), mem("unbound", 20000, 300000)},
		}
	}
	tests := []struct {
		name   string
		change func(*results)
		want   [3]string
	}{
		{"all met", func(*results) {}, [3]string{"met", "met", "met"}},
		{"one round short", func(r *results) { r.lean.Rounds[1] = round(104, 100) }, [3]string{"not met", "met", "met"}},
		{"two rounds only", func(r *results) { r.lean.Rounds = r.lean.Rounds[:2] }, [3]string{"not measured", "met", "met"}},
		{"log records dropped", func(r *results) { r.lean.Log.Dropped = 1 }, [3]string{"not met", "met", "met"}},
		// Medians: dnsward 1.6 ms, unbound 0.9 ms.
		{"p99 over 1.5× unbound's", func(r *results) { r.lean.HalfRounds[2][0].Perf.Latencies[1] = 0.0016 }, [3]string{"met", "not met", "met"}},
		{"no half-rate rounds", func(r *results) { r.lean.HalfRounds = nil }, [3]string{"met", "not measured", "met"}},
		{"over 500 B a name", func(r *results) { r.memory[0].AfterKiB = 16000 + 200000 }, [3]string{"met", "met", "not met"}},
		{"over 0.75× unbound", func(r *results) { r.memory[1].AfterKiB = 20000 + 30000 }, [3]string{"met", "met", "not met"}},
		{"not measured", func(r *results) { r.lean, r.memory = nil, nil }, [3]string{"not measured", "not measured", "not measured"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := base()
			tt.change(res)
			for i, f := range leanFloors(res) {
				if f.verdict() != tt.want[i] {
					t.Errorf("floor %d: %s, want %s: %s", i, f.verdict(), tt.want[i], f.line())
				}
			}
		})
	}
}

// TestLeanWorkload runs the lean-cache workload alone and prints its
// section: DNSWARD_BENCH_LEAN=1 to run it (it needs dnsperf and unbound,
// builds dnsward and the test resolver, and loads the machine for about
// 4 × leanRounds × DNSWARD_BENCH_L seconds, 10 unless set).
func TestLeanWorkload(t *testing.T) {
	ctx, b, ts := workloadBench(t, "DNSWARD_BENCH_LEAN", "the lean-cache workload")
	if err := b.leanPhase(ctx, ts); err != nil {
		t.Fatal(err)
	}
	var s strings.Builder
	leanSection(&s, b.res)
	t.Log("\n" + s.String())
	if st := b.res.lean; st.Dnsward == nil || st.Unbound == nil || len(st.HalfRounds) != leanRounds {
		t.Errorf("incomplete: dnsward %v, unbound %v, %d half-rate rounds", st.Dnsward, st.Unbound, len(st.HalfRounds))
	}
}
