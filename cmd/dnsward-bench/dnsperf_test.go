package main

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The testdata files are real dnsperf 2.10.0 output captured on the
// benchmark machine: -v against unbound (dnsperf-verbose, dnsperf-rcodes),
// -v against a socket that never answers (dnsperf-lost), and a plain
// time-limited run against dnsmasq (dnsperf-plain).
func TestParsePerf(t *testing.T) {
	tests := []struct {
		file                  string
		sent, completed, lost int64
		qps, avg              float64
		latencies, timeouts   int
		p99                   float64 // NaN when the run has no per-query lines
		otherRCodes           string
	}{
		{"dnsperf-verbose.txt", 50, 50, 0, 3653.902368, 0.000286, 50, 0, 0.008026, ""},
		{"dnsperf-rcodes.txt", 6, 6, 0, 365.942913, 0.000889, 6, 0, 0.002795, "NXDOMAIN 2"},
		// Lost queries count as infinitely slow.
		{"dnsperf-lost.txt", 3, 0, 3, 0, 0, 0, 3, math.Inf(1), ""},
		{"dnsperf-plain.txt", 38348, 38348, 0, 38150.988296, 0.002228, 0, 0, math.NaN(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r, err := parsePerf(f)
			if err != nil {
				t.Fatal(err)
			}
			if r.Sent != tt.sent || r.Completed != tt.completed || r.Lost != tt.lost {
				t.Errorf("sent/completed/lost = %d/%d/%d, want %d/%d/%d", r.Sent, r.Completed, r.Lost, tt.sent, tt.completed, tt.lost)
			}
			if r.QPS != tt.qps || r.AvgLatency != tt.avg {
				t.Errorf("qps %v avg %v, want %v %v", r.QPS, r.AvgLatency, tt.qps, tt.avg)
			}
			if len(r.Latencies) != tt.latencies || r.Timeouts != int64(tt.timeouts) {
				t.Errorf("%d latencies, %d timeouts; want %d, %d", len(r.Latencies), r.Timeouts, tt.latencies, tt.timeouts)
			}
			if p := r.P99(); !(p == tt.p99 || math.IsNaN(p) && math.IsNaN(tt.p99)) {
				t.Errorf("p99 = %v, want %v", p, tt.p99)
			}
			if got := r.OtherRCodes(); got != tt.otherRCodes {
				t.Errorf("other rcodes %q, want %q", got, tt.otherRCodes)
			}
		})
	}
}

func TestParsePerfRejectsTruncatedOutput(t *testing.T) {
	if _, err := parsePerf(strings.NewReader("DNS Performance Testing Tool\n> NOERROR a.test A 0.1\n")); err == nil {
		t.Error("output without statistics parsed")
	}
}

func TestPercentile(t *testing.T) {
	seq := func(n int) []float64 {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = float64(n - i) // reversed: percentile must sort
		}
		return xs
	}
	tests := []struct {
		name string
		xs   []float64
		p    float64
		want float64
	}{
		{"empty", nil, 99, math.NaN()},
		{"one", []float64{7}, 99, 7},
		{"p99 of 100", seq(100), 99, 99},
		{"p99 of 1000", seq(1000), 99, 990},
		{"p99 of 50 is the max", seq(50), 99, 50},
		{"p99 of 101", seq(101), 99, 100},
		{"p50 of 4", seq(4), 50, 2},
		{"p100", seq(10), 100, 10},
		{"p0 is the min", seq(10), 0, 1},
		{"one outlier in 200 stays out of p99", append(make([]float64, 199), 5), 99, 0},
		{"three outliers in 200 reach p99", append(make([]float64, 197), 5, 5, 5), 99, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := percentile(tt.xs, tt.p)
			if !(got == tt.want || math.IsNaN(got) && math.IsNaN(tt.want)) {
				t.Errorf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestPerfSpecCommand(t *testing.T) {
	s := perfSpec{Port: 5353, File: "/tmp/x/hot.txt", Limit: 10, Clients: 16, Outstanding: 100, RateQPS: 5000, Verbose: true}
	want := "dnsperf -s 127.0.0.1 -p 5353 -d $TMP/hot.txt -l 10 -c 16 -q 100 -Q 5000 -v"
	if got := s.command("/tmp/x"); got != want {
		t.Errorf("command = %q, want %q", got, want)
	}
}

func TestP99CountsLostQueries(t *testing.T) {
	tests := []struct {
		name     string
		timeouts int64
		want     float64
	}{
		{"two lost in 200 stay out of p99", 2, 0.0001},
		{"three lost in 200 make p99 infinite", 3, math.Inf(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lat := slices.Repeat([]float64{0.0001}, 200-int(tt.timeouts))
			r := &perfResult{Latencies: lat, Timeouts: tt.timeouts}
			if got := r.P99(); got != tt.want {
				t.Errorf("p99 = %v, want %v", got, tt.want)
			}
		})
	}
}
