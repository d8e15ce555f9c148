package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestKeptSection(t *testing.T) {
	tests := []struct{ old, want string }{
		{"", ""},
		{"# Benchmarks\n\ntable\n", ""},
		{"# B\n\n## What each change bought\n\n- pooled buffers: +20%\n", "## What each change bought\n\n- pooled buffers: +20%\n"},
		{"## What each change bought\nx\n", "## What each change bought\nx\n"},
		// Mentioned mid-line is not the heading.
		{"see ## What each change bought below\n\n## What each change bought\ny\n", "## What each change bought\ny\n"},
	}
	for _, tt := range tests {
		if got := keptSection(tt.old); got != tt.want {
			t.Errorf("keptSection(%q) = %q, want %q", tt.old, got, tt.want)
		}
	}
}

func TestWriteReportKeepsHandWrittenSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	hand := "## What each change bought\n\n- wire-format cache: 2x cache hits\n"
	if err := os.WriteFile(path, []byte("# old generated part\n\n"+hand), 0o644); err != nil {
		t.Fatal(err)
	}
	res := &results{opts: options{outstanding: 100, delay: 20 * time.Millisecond, hot: 1000, missNames: 10, memNames: 10, rules: 10}}
	if err := writeReport(path, res); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if !strings.HasSuffix(string(b), "\n"+hand) || strings.Contains(string(b), "old generated part") {
		t.Errorf("report:\n%s", b)
	}
	if !strings.Contains(string(b), "**not measured**") {
		t.Errorf("floors without figures should read not measured:\n%s", b)
	}
	// The set-up shows dnsmasq's real command line, not a summary of it.
	if want := strings.Join(dnsmasqArgs("PORT", "TESTSERVER_PORT", res.opts.cacheSize(), "$DIR"), " "); !strings.Contains(string(b), want) {
		t.Errorf("report does not show dnsmasq's arguments %q:\n%s", want, b)
	}
}

func TestFloors(t *testing.T) {
	// run is a clean run over 10 s: dnsperf at 50% of a core, other work
	// at 10%.
	run := func(server, variant string, qps float64, lat ...float64) *runStats {
		return &runStats{Server: server, Variant: variant, Wall: 10 * time.Second, OtherCPU: time.Second,
			Perf: &perfResult{QPS: qps, Latencies: lat, RCodes: "NOERROR 100 (100.00%)", CPU: 5 * time.Second},
			Spec: perfSpec{RateQPS: int(qps)}}
	}
	// base meets every floor.
	base := func() *results {
		return &results{
			opts:     options{outstanding: 100, delay: 20 * time.Millisecond},
			hits:     []*runStats{run("dnsward", "", 300000), run("dnsmasq", "", 200000), run("unbound", "", 300000)},
			variants: []*runStats{run("dnsward", "query log on", 250000)},
			missFast: []*runStats{run("dnsward", "", 25000), run("unbound", "", 45000)},
			missSlow: []*runStats{run("dnsward", "", 4600)},
			halfRate: []*runStats{run("dnsward", "", 150000, 0.0002, 0.0009)},
			qlog:     &logStats{Lines: 2600000, Answered: 2600000},
		}
	}
	// lossy records a loss in a run as measure does: in dnsperf's figures
	// and as a problem.
	lossy := func(r *runStats, n int64) {
		r.Perf.Lost = n
		r.problem("%d of %d queries lost", n, n*1000)
	}
	tests := []struct {
		name   string
		change func(*results)
		want   [4]string
	}{
		{"all met", func(*results) {}, [4]string{"met", "met", "met", "met"}},
		{"qps short", func(r *results) { r.missFast[0].Perf.QPS = 20000 }, [4]string{"met", "not met", "met", "met"}},
		{"a lost query", func(r *results) { r.missSlow[0].Perf.Lost = 1 }, [4]string{"met", "met", "not met", "met"}},
		{"SERVFAIL answers", func(r *results) { r.variants[0].Perf.RCodes = "NOERROR 90 (90.00%), SERVFAIL 10 (10.00%)" },
			[4]string{"not met", "met", "met", "met"}},
		{"a problem in a reference run", func(r *results) { r.hits[2].problem("unbound exited during the run") },
			[4]string{"not met", "met", "met", "met"}},
		{"spot-check mismatch", func(r *results) { r.missFast[0].problem("spot check after the run: wrong answer") },
			[4]string{"met", "not met", "met", "met"}},
		{"p99 over 1 ms", func(r *results) { r.halfRate[0].Perf.Latencies = []float64{0.0002, 0.0011} },
			[4]string{"met", "met", "met", "not met"}},
		{"a timeout is infinitely slow", func(r *results) { r.halfRate[0].Perf.Timeouts = 1 },
			[4]string{"met", "met", "met", "not met"}},
		{"lost without per-query lines", func(r *results) { r.halfRate[0].Perf.Lost = 1 },
			[4]string{"met", "met", "met", "not met"}},
		{"a dnsperf thread at 95% of a core", func(r *results) { r.hits[1].Perf.BusiestThreadPct = 95 },
			[4]string{"inconclusive", "met", "met", "met"}},
		{"a dnsperf thread just under 95%", func(r *results) { r.hits[1].Perf.BusiestThreadPct = 94.9 },
			[4]string{"met", "met", "met", "met"}},
		{"dnsperf over a core in all, no thread busy", func(r *results) { r.hits[1].Perf.CPU = 11 * time.Second },
			[4]string{"met", "met", "met", "met"}},
		{"other work above 25%", func(r *results) { r.missSlow[0].OtherCPU = 2600 * time.Millisecond },
			[4]string{"met", "met", "inconclusive", "met"}},
		{"other work at 25%", func(r *results) { r.missSlow[0].OtherCPU = 2500 * time.Millisecond },
			[4]string{"met", "met", "met", "met"}},
		{"counters not read", func(r *results) { r.halfRate[0].Gaps = []string{"could not read dnsward CPU"} },
			[4]string{"met", "met", "met", "inconclusive"}},
		{"inconclusive rather than not met", func(r *results) {
			r.missFast[1].Perf.BusiestThreadPct = 100
			r.missFast[0].Perf.Lost = 5
		}, [4]string{"met", "inconclusive", "met", "met"}},
		{"a loss and a busy dnsperf in dnsward's own run", func(r *results) {
			lossy(r.missFast[0], 5)
			r.missFast[0].Perf.BusiestThreadPct = 100
		}, [4]string{"met", "inconclusive", "met", "met"}},
		{"a loss in dnsward's run, other work in unbound's", func(r *results) {
			lossy(r.variants[0], 5)
			r.hits[2].OtherCPU = 3 * time.Second
		}, [4]string{"inconclusive", "met", "met", "met"}},
		{"a loss in dnsward's own run, no doubt", func(r *results) { lossy(r.variants[0], 5) },
			[4]string{"not met", "met", "met", "met"}},
		{"qps short and a doubt", func(r *results) {
			r.missFast[0].Perf.QPS = 20000
			r.missFast[0].Gaps = []string{"could not read dnsward CPU"}
		}, [4]string{"met", "inconclusive", "met", "met"}},
		{"query log records dropped", func(r *results) { r.qlog.Dropped = 1 },
			[4]string{"not met", "met", "met", "met"}},
		{"fewer log records than answers", func(r *results) { r.qlog.Lines-- },
			[4]string{"not met", "met", "met", "met"}},
		{"more log records than answers", func(r *results) { r.qlog.Lines++ },
			[4]string{"met", "met", "met", "met"}},
		{"log records dropped while dnsperf was busy", func(r *results) {
			r.qlog.Dropped = 10
			r.variants[0].Perf.BusiestThreadPct = 99
		}, [4]string{"inconclusive", "met", "met", "met"}},
		{"log counters not read", func(r *results) { r.qlog = &logStats{Lines: 2600000, Unread: "connection refused"} },
			[4]string{"inconclusive", "met", "met", "met"}},
		{"query log not counted", func(r *results) { r.qlog = nil },
			[4]string{"inconclusive", "met", "met", "met"}},
		{"a loss in a round that is not the median", func(r *results) {
			lossy := run("dnsward", "", 4700)
			lossy.Perf.Lost = 3
			r.slowRounds = [][]*runStats{{run("dnsward", "", 4400)}, {r.missSlow[0]}, {lossy}}
		}, [4]string{"met", "met", "not met", "met"}},
		{"not measured", func(r *results) { r.halfRate, r.missSlow = nil, nil },
			[4]string{"met", "met", "not measured", "not measured"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := base()
			tt.change(res)
			for i, f := range floors(res) {
				if f.verdict() != tt.want[i] {
					t.Errorf("floor %d: %s, want %s: %s", i, f.verdict(), tt.want[i], f.line())
				}
				if f.verdict() == "inconclusive" && !strings.Contains(f.line(), "not judged: ") {
					t.Errorf("floor %d inconclusive without saying why: %s", i, f.line())
				}
				if f.verdict() == "not met" && f.met && !strings.Contains(f.line(), "not clean: ") {
					t.Errorf("floor %d not met without saying what was not clean: %s", i, f.line())
				}
			}
		})
	}
}

// TestVerdict: a doubt outranks everything measured, a fault outranks
// figures that reach the floor.
func TestVerdict(t *testing.T) {
	tests := []struct {
		name string
		f    floor
		want string
	}{
		{"nothing measured", floor{}, "not measured"},
		{"not measured, a doubt anyway", floor{doubts: []string{"x"}}, "not measured"},
		{"figures met, clean", floor{measured: true, met: true}, "met"},
		{"figures met, a fault", floor{measured: true, met: true, faults: []string{"dnsward: 1 lost"}}, "not met"},
		{"figures short, clean", floor{measured: true}, "not met"},
		{"figures short, a fault", floor{measured: true, faults: []string{"dnsward: 1 lost"}}, "not met"},
		{"figures met, a doubt", floor{measured: true, met: true, doubts: []string{"x"}}, "inconclusive"},
		{"figures short, a doubt", floor{measured: true, doubts: []string{"x"}}, "inconclusive"},
		{"a fault and a doubt", floor{measured: true, met: true, faults: []string{"dnsward: 1 lost"}, doubts: []string{"x"}}, "inconclusive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.verdict(); got != tt.want {
				t.Errorf("verdict() = %q, want %q (%s)", got, tt.want, tt.f.line())
			}
		})
	}
}

func TestMedianRuns(t *testing.T) {
	run := func(server, variant string, qps float64) *runStats {
		return &runStats{Server: server, Variant: variant, Perf: &perfResult{QPS: qps}}
	}
	tests := []struct {
		name   string
		rounds [][]*runStats
		want   []float64 // each label's median qps, in the first round's order
	}{
		{"one round", [][]*runStats{{run("dnsward", "", 10), run("dnsmasq", "", 20)}}, []float64{10, 20}},
		{"three rounds", [][]*runStats{
			{run("dnsward", "", 30), run("dnsward", "plain", 5)},
			{run("dnsward", "", 10), run("dnsward", "plain", 7)},
			{run("dnsward", "", 20), run("dnsward", "plain", 6)},
		}, []float64{20, 6}},
		{"two rounds take the lower", [][]*runStats{{run("unbound", "", 9)}, {run("unbound", "", 8)}}, []float64{8}},
		{"a round cut short", [][]*runStats{{run("dnsward", "", 9), run("dnsmasq", "", 4)}, {run("dnsward", "", 3)}}, []float64{3, 4}},
		{"no rounds", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []float64
			for _, r := range medianRuns(tt.rounds) {
				got = append(got, r.Perf.QPS)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("medianRuns: qps %v, want %v", got, tt.want)
			}
		})
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -45000: "-45,000"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
