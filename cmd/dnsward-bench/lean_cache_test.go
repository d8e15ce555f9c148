package main

import (
	"testing"
	"time"
)

// Issue 23's floors: every round's hits at 1.05× unbound, the log whole,
// and memory per name at a million names under both bounds.
func TestLeanFloors(t *testing.T) {
	run := func(server, variant string, qps float64) *runStats {
		return &runStats{Server: server, Variant: variant, Wall: 10 * time.Second, OtherCPU: time.Second,
			Perf: &perfResult{QPS: qps, RCodes: "NOERROR 100 (100.00%)", CPU: 5 * time.Second, Completed: 400000}}
	}
	round := func(dw, ub float64) []*runStats {
		return []*runStats{run("dnsward", leanVariant, dw), run("unbound", "", ub)}
	}
	mem := func(server string, baseKiB, afterKiB int64) *memStats {
		r := run(server, "", 10000)
		return &memStats{Server: server, BaseKiB: baseKiB, AfterKiB: afterKiB, Perf: r.Perf, Run: r}
	}
	base := func() *results {
		return &results{
			opts: options{memNames: 1000000},
			lean: &leanStats{Rounds: [][]*runStats{round(110, 100), round(120, 100), round(106, 100)},
				Log: &logStats{Lines: 10, Answered: 10}},
			// 400,000 names: 40,000 KiB of growth is 102 B a name.
			memory: []*memStats{mem("dnsward", 16000, 56000), mem("unbound", 20000, 300000)},
		}
	}
	tests := []struct {
		name   string
		change func(*results)
		want   [2]string
	}{
		{"all met", func(*results) {}, [2]string{"met", "met"}},
		{"one round short", func(r *results) { r.lean.Rounds[1] = round(104, 100) }, [2]string{"not met", "met"}},
		{"two rounds only", func(r *results) { r.lean.Rounds = r.lean.Rounds[:2] }, [2]string{"not measured", "met"}},
		{"log records dropped", func(r *results) { r.lean.Log.Dropped = 1 }, [2]string{"not met", "met"}},
		{"over 500 B a name", func(r *results) { r.memory[0].AfterKiB = 16000 + 200000 }, [2]string{"met", "not met"}},
		{"over 0.75× unbound", func(r *results) { r.memory[1].AfterKiB = 20000 + 30000 }, [2]string{"met", "not met"}},
		{"not measured", func(r *results) { r.lean, r.memory = nil, nil }, [2]string{"not measured", "not measured"}},
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
