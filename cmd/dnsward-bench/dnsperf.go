package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// perfSpec is one dnsperf invocation.
type perfSpec struct {
	Port        int    // server port on 127.0.0.1
	File        string // query file, "name type" per line
	Limit       int    // -l: seconds at most
	Clients     int    // -c
	Outstanding int    // -q
	MaxRuns     int    // -n: passes through the file at most; 0 leaves it out
	RateQPS     int    // -Q: queries a second at most; 0 leaves it out
	Verbose     bool   // -v: one line per query, from which p99 is computed
}

// args is the dnsperf command line of s.
func (s perfSpec) args() []string {
	a := []string{"-s", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-d", s.File,
		"-l", strconv.Itoa(s.Limit), "-c", strconv.Itoa(s.Clients), "-q", strconv.Itoa(s.Outstanding)}
	if s.MaxRuns > 0 {
		a = append(a, "-n", strconv.Itoa(s.MaxRuns))
	}
	if s.RateQPS > 0 {
		a = append(a, "-Q", strconv.Itoa(s.RateQPS))
	}
	if s.Verbose {
		a = append(a, "-v")
	}
	return a
}

// command is s as a shell line, the temporary directory shown as $TMP.
func (s perfSpec) command(tmp string) string {
	return "dnsperf " + strings.ReplaceAll(strings.Join(s.args(), " "), tmp, "$TMP")
}

// perfResult is what one dnsperf run reported.
type perfResult struct {
	Sent, Completed, Lost int64
	RCodes                string // "NOERROR 5 (100.00%)", as dnsperf prints it
	QPS                   float64
	AvgLatency            float64 // seconds
	// Latencies holds one entry per answered query (seconds) when the run
	// was verbose; Timeouts counts the queries it reported lost, which P99
	// must count: leaving them out would flatter a server that drops.
	Latencies []float64
	Timeouts  int64
	// CPU is dnsperf's own user plus system time; BusiestThreadPct is its
	// busiest thread's CPU in % of one core (see busiestThread).
	CPU              time.Duration
	BusiestThreadPct float64
}

// P99 is the 99th percentile latency of a verbose run, in seconds, a lost
// query counting as infinitely slow; NaN when the run was not verbose.
func (r *perfResult) P99() float64 {
	xs := slices.Clone(r.Latencies)
	for range r.Timeouts {
		xs = append(xs, math.Inf(1))
	}
	return percentile(xs, 99)
}

// OtherRCodes lists the response codes other than NOERROR that answers
// carried, with their counts ("SERVFAIL 12"); empty when all were NOERROR.
func (r *perfResult) OtherRCodes() string {
	var out []string
	for part := range strings.SplitSeq(r.RCodes, ",") {
		f := strings.Fields(part)
		if len(f) >= 2 && f[0] != "NOERROR" {
			out = append(out, f[0]+" "+f[1])
		}
	}
	return strings.Join(out, ", ")
}

// percentile is the nearest-rank p-th percentile of xs (sorted in place);
// NaN for an empty slice.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	slices.Sort(xs)
	rank := int(math.Ceil(p / 100 * float64(len(xs))))
	return xs[min(max(rank, 1), len(xs))-1]
}

// dnsperfTimeout is dnsperf's default -t: after the run's -l it waits this
// long for answers still outstanding.
const dnsperfTimeout = 5 * time.Second

// runPerf runs dnsperf to completion, bounded by the run's own limits plus
// a margin, then parses its output. The output goes to a file, read after
// dnsperf exits: parsing a verbose run's line per query as it streams took
// a third of a core from the machine being measured, and a full pipe
// stalled dnsperf, both of which showed up as latency.
func runPerf(ctx context.Context, s perfSpec) (*perfResult, error) {
	timeout := time.Duration(s.Limit)*time.Second + dnsperfTimeout + 30*time.Second
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := os.CreateTemp("", "dnsperf-*.out")
	if err != nil {
		return nil, err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd := exec.CommandContext(ctx, "dnsperf", s.args()...)
	cmd.Env = harnessEnv()
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = out, &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("dnsperf: %w", err)
	}
	stopSampling := make(chan struct{})
	busiest := make(chan float64, 1)
	go func() { busiest <- busiestThread(cmd.Process.Pid, stopSampling) }()
	werr := cmd.Wait()
	close(stopSampling)
	busiestPct := <-busiest
	var cpu time.Duration
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	res, perr := parsePerf(out)
	res.CPU, res.BusiestThreadPct = cpu, busiestPct
	if werr != nil {
		return res, fmt.Errorf("dnsperf %s: %w: %s", strings.Join(s.args(), " "), werr, lastLines(stderr.String(), 5))
	}
	if perr != nil {
		return res, fmt.Errorf("dnsperf output: %w", perr)
	}
	return res, nil
}

// lastLines is the last n lines of s, for error messages.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

// parsePerf reads dnsperf's report: the per-query lines of -v
// ("> NOERROR name A 0.000123", or "> T name A" for a timeout) and the
// Statistics block at the end.
func parsePerf(r io.Reader) (*perfResult, error) {
	res := &perfResult{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	seenStats := false
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "> "); ok {
			parseVerboseLine(rest, res)
			continue
		}
		key, val, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		var err error
		switch key {
		case "Queries sent":
			seenStats = true
			res.Sent, err = strconv.ParseInt(leading(val), 10, 64)
		case "Queries completed":
			res.Completed, err = strconv.ParseInt(leading(val), 10, 64)
		case "Queries lost":
			res.Lost, err = strconv.ParseInt(leading(val), 10, 64)
		case "Response codes":
			res.RCodes = val
		case "Queries per second":
			res.QPS, err = strconv.ParseFloat(val, 64)
		case "Average Latency (s)":
			res.AvgLatency, err = strconv.ParseFloat(leading(val), 64)
		}
		if err != nil {
			return res, fmt.Errorf("%q: %w", line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return res, err
	}
	if !seenStats {
		return res, fmt.Errorf("no statistics in dnsperf output")
	}
	return res, nil
}

// parseVerboseLine reads "RCODE name type latency" or "T name type".
func parseVerboseLine(s string, res *perfResult) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return
	}
	if f[0] == "T" {
		res.Timeouts++
		return
	}
	if lat, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil && len(f) >= 4 {
		res.Latencies = append(res.Latencies, lat)
	}
}

// leading is the number at the start of a statistics value, "5" of
// "5 (100.00%)"; "" when there is none, which the parse then rejects.
func leading(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}
