package main

import (
	"os"
	"path/filepath"
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
}

func TestFloors(t *testing.T) {
	run := func(server, variant string, qps float64, lost int64, lat ...float64) *runStats {
		return &runStats{Server: server, Variant: variant, Perf: &perfResult{QPS: qps, Lost: lost, Latencies: lat}, Spec: perfSpec{RateQPS: int(qps)}}
	}
	res := &results{
		opts:     options{outstanding: 100, delay: 20 * time.Millisecond},
		hits:     []*runStats{run("dnsward", "", 300000, 0), run("dnsmasq", "", 200000, 0), run("unbound", "", 300000, 0)},
		variants: []*runStats{run("dnsward", "query log on", 250000, 0)},
		missFast: []*runStats{run("dnsward", "", 20000, 0), run("unbound", "", 45000, 0)},
		missSlow: []*runStats{run("dnsward", "", 4600, 0)},
		halfRate: []*runStats{run("dnsward", "", 150000, 0, 0.0002, 0.0009)},
	}
	want := []string{"met", "not met", "met", "met"}
	for i, f := range floors(res) {
		if f.verdict() != want[i] {
			t.Errorf("floor %d (%s): %s, want %s", i, f.text, f.verdict(), want[i])
		}
	}
	res.missSlow[0].Perf.Lost = 1
	if f := floors(res)[2]; f.verdict() != "not met" {
		t.Errorf("a lost query should fail the delayed floor: %s", f.text)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -45000: "-45,000"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
