// Command dnsward-bench measures dnsward side by side with dnsmasq and
// unbound on loopback with dnsperf, as issue 8 asks, and writes the figures
// to BENCHMARKS.md.
//
// It starts the synthetic test resolver (bin/dnscrypt-testserver) on
// loopback, dnsmasq and unbound as plain caching forwarders to it, and
// dnsward forwarding to it over DNSCrypt; then runs, against each in turn:
//
//  1. cache hits: a hot set of names repeated, after warming the caches,
//     and again rate-limited to half of each server's measured qps for p99;
//  2. cache misses: distinct names under gen.test. sent once, with no
//     upstream delay (through dnsward also over DoT and DoH to unbound)
//     and again with a delayed test resolver;
//  3. dnsward's cache-hit run again with the query log off, on (file
//     sink), and with a generated blocklist of a million rules;
//  4. memory: each server's RSS after a million distinct names, and
//     dnsward's with the million rules loaded;
//  5. the answer index: its memory per entry when full (the answers
//     package's benchmarks), and dnsward's cache hits with it on and off;
//  6. flows: the flow pipeline's events per second with a full answer
//     index (the flows package's benchmark), and dnsward's cache hits
//     with and without 20,000 firewall log lines a second arriving;
//  7. the web page: dnsward's cache hits with five browsers on the page
//     and with none;
//  8. the cache file: a million names saved and loaded (the resolver
//     package's benchmark);
//  9. dnsward querylog who and export on a generated 3.1-million-record
//     log, against grep -c on the same file.
//
// Every process it starts is stopped on exit, on error and on SIGINT.
//
// Usage (from the repository root, after make build):
//
//	go run ./cmd/dnsward-bench -out BENCHMARKS.md
//	go run ./cmd/dnsward-bench -quick -out /tmp/b.md   # 3 s runs, smaller sets
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
)

// options are the command-line settings of a run.
type options struct {
	out            string
	bin            string
	limit          int // dnsperf -l for each measured run, seconds
	clients        int // dnsperf -c
	outstanding    int // dnsperf -q
	satOutstanding int // dnsperf -q of the rounds that compare cache-hit capacity
	hot            int // names in the cache-hit set
	missNames      int // distinct names in each cache-miss file
	memNames       int // distinct names sent in the memory workload
	memLimit       int // dnsperf -l of the memory workload, seconds
	memOutstanding int // dnsperf -q of the memory workload
	rules          int // rules in the generated blocklist
	threads        int // unbound's num-threads
	delay          time.Duration
	rounds         int // rounds of the delayed cache-miss runs
	total          time.Duration
	keep           bool
	scanRecords    int // records in the query-log scan workload's log
}

// cacheSize is what every server's cache is sized to: room for every name
// of the largest workload.
func (o options) cacheSize() int { return max(o.memNames, o.missNames+o.hot) * 11 / 10 }

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("dnsward-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.out, "out", "BENCHMARKS.md", "report `file` to (re)write; the section from \"## What each change bought\" down is kept")
	fs.StringVar(&o.bin, "bin", "bin", "`directory` holding dnsward and dnscrypt-testserver (make build)")
	fs.IntVar(&o.limit, "l", 10, "dnsperf -l: `seconds` each measured run lasts at most")
	fs.IntVar(&o.clients, "c", 16, "dnsperf -c: simulated `clients`")
	fs.IntVar(&o.outstanding, "q", 100, "dnsperf -q: most `queries` outstanding")
	fs.IntVar(&o.satOutstanding, "sat-q", 300, "dnsperf -q of the lean-cache and flow rounds, which compare cache-hit capacity: at -q 100 a server with one reader leaves the CPUs partly idle")
	fs.IntVar(&o.hot, "hot", 1000, "`names` in the cache-hit set")
	fs.IntVar(&o.missNames, "miss", 200000, "distinct `names` in each cache-miss run")
	fs.IntVar(&o.memNames, "mem", 1000000, "distinct `names` sent in the memory workload")
	fs.IntVar(&o.memLimit, "mem-l", 100, "dnsperf -l of the memory workload, `seconds` per server: long enough for every name at about 11,000 misses a second")
	fs.IntVar(&o.memOutstanding, "mem-q", 500, "dnsperf -q of the memory workload")
	fs.IntVar(&o.rules, "rules", 1000000, "`rules` in the generated blocklist")
	fs.IntVar(&o.threads, "unbound-threads", runtime.NumCPU(), "unbound's num-threads")
	fs.DurationVar(&o.delay, "delay", 20*time.Millisecond, "upstream delay of the delayed cache-miss run")
	fs.IntVar(&o.rounds, "delayed-rounds", 3, "`rounds` of the delayed cache-miss runs, whose median the table shows")
	fs.DurationVar(&o.total, "timeout", 20*time.Minute, "bound on the whole run")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (configs, logs, query files)")
	fs.IntVar(&o.scanRecords, "querylog-records", 3100000, "`records` in the query-log scan workload's generated log")
	quick := fs.Bool("quick", false, "for development: -l 3, -mem-l 10, 50,000 miss names, 300,000 memory names and 300,000 query-log records")
	if err := fs.Parse(args); err != nil {
		return o, err // the flag set has printed it
	}
	if *quick {
		o.limit, o.memLimit, o.missNames, o.memNames, o.scanRecords = 3, 10, 50000, 300000, 300000
	}
	if err := validate(o); err != nil {
		fmt.Fprintln(stderr, "dnsward-bench:", err)
		return o, err
	}
	return o, nil
}

// validate rejects settings no run can be made with.
func validate(o options) error {
	if o.limit < 1 || o.clients < 1 || o.outstanding < 1 || o.satOutstanding < 1 || o.hot < 20 || o.missNames < 20 ||
		o.memNames < 20 || o.scanRecords < 1 || o.rules < 1 || o.memLimit < 1 || o.memOutstanding < 1 || o.threads < 1 || o.rounds < 1 {
		return errors.New("counts and limits must be positive (-hot, -miss, -mem at least 20)")
	}
	// The delayed run's qps ceiling divides by -delay, and -timeout bounds
	// the whole run: neither means anything at zero or below.
	if o.delay <= 0 {
		return fmt.Errorf("-delay %s: must be positive", o.delay)
	}
	if o.total <= 0 {
		return fmt.Errorf("-timeout %s: must be positive", o.total)
	}
	return nil
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "dnsward-bench:", err)
		stop()
		os.Exit(1)
	}
}

// run performs the whole benchmark and writes the report. A failing
// workload ends the run, but what was measured until then is still written,
// with the failure, unless the run was interrupted.
func run(ctx context.Context, o options, log io.Writer) error {
	began := time.Now()
	ctx, cancel := context.WithTimeout(ctx, o.total)
	defer cancel()
	for _, name := range []string{"dnsward", "dnscrypt-testserver"} {
		if _, err := os.Stat(filepath.Join(o.bin, name)); err != nil {
			return fmt.Errorf("%w (run make build first)", err)
		}
	}
	if err := ensureTools(ctx, log); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "dnsward-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(log, "keeping", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	l := &lab{tmp: tmp, bin: o.bin, fleet: &fleet{}, ports: map[int]bool{}}
	defer l.fleet.stopAll()
	b := &bench{lab: l, opts: o, log: log, res: &results{opts: o, tmp: tmp}}
	b.res.machine = describeMachine(ctx, o.bin)
	b.step("generating query files and a %d-rule blocklist in %s", o.rules, tmp)
	if err := b.writeFiles(); err != nil {
		return err
	}
	runErr := b.workloads(ctx)
	if ctx.Err() != nil && errors.Is(context.Cause(ctx), context.Canceled) {
		return fmt.Errorf("interrupted: %w", runErr)
	}
	if runErr != nil {
		b.note("run incomplete: %v", runErr)
	}
	b.res.machine.LoadEnd = loadavg()
	b.res.elapsed = time.Since(began)
	if err := writeReport(o.out, b.res); err != nil {
		return errors.Join(runErr, err)
	}
	b.step("wrote %s in %s", o.out, b.res.elapsed.Round(time.Second))
	return runErr
}

// workloads runs the phases in order, each with its own servers.
func (b *bench) workloads(ctx context.Context) error {
	ts, err := b.lab.startTestServer(ctx, 0)
	if err != nil {
		return err
	}
	defer b.stopAll(ts)
	if err := b.basePhase(ctx, ts); err != nil {
		return err
	}
	if err := b.delayedPhase(ctx); err != nil {
		return err
	}
	if err := b.memoryPhase(ctx, ts); err != nil {
		return err
	}
	if err := b.leanPhase(ctx, ts); err != nil {
		return err
	}
	if err := b.answerIndexPhase(ctx, ts); err != nil {
		return err
	}
	if err := b.flowPhase(ctx, ts); err != nil {
		return err
	}
	if err := b.webPhase(ctx, ts); err != nil {
		return err
	}
	if err := b.cacheFilePhase(ctx); err != nil {
		return err
	}
	return b.queryLogScan(ctx)
}
