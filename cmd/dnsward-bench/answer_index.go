package main

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
)

// indexRounds is how often the answer-index workload runs dnsward with the
// index on and off, alternating; each row is the variant's median round.
const indexRounds = 5

// The answer-index workload's two dnsward instances, as the table names them.
const (
	indexOn  = "answer index on"
	indexOff = "answer index off"
)

// indexFloor is issue 20's bound on the index's cost: cache-hit qps with
// it on at least this share of the qps with it off.
const indexFloor = 0.95

// indexStats is the answer-index workload: the index's memory per entry
// when full, and dnsward's cache-hit qps with the index on and off.
type indexStats struct {
	// Memory is the heap per entry of a full index, from the answers
	// package's own benchmarks: typical (fifty clients per address) and
	// with every entry for an address of its own.
	Memory []indexMemory
	// MemoryErr says why Memory is missing.
	MemoryErr string
	// Rounds are the cache-hit runs, on then off in odd rounds and off
	// then on in even ones, so that a drift of the machine's load shows
	// in both; On and Off are the median rounds.
	Rounds  [][]*runStats
	On, Off *runStats
}

// indexMemory is one memory benchmark's figures.
type indexMemory struct {
	Benchmark     string
	BytesPerEntry float64
	Entries       int64
}

// indexBenchmarks are the answers package's memory benchmarks, whose fill
// the workload reuses by running them.
var indexBenchmarks = map[string]string{
	"BenchmarkMemoryPerEntry":              "fifty clients given each address, 4,000 names",
	"BenchmarkMemoryPerEntryOwnAddress":    "every entry for an address of its own",
	"BenchmarkMemoryPerEntryDistinctNames": "every entry for a name and an address of its own",
}

// answerIndexPhase is the answer-index workload: the memory per entry of a
// full index, then two dnsward instances, the index on and off, each run
// through the cache-hit workload indexRounds times, alternating.
func (b *bench) answerIndexPhase(ctx context.Context, ts *server) error {
	st := &indexStats{}
	b.res.index = st
	b.step("answer index: memory per entry of a full index (go test -bench in ./answers)")
	if st.Memory = indexMemoryPerEntry(ctx); len(st.Memory) < len(indexBenchmarks) {
		st.MemoryErr = "the answers package's memory benchmarks did not all report"
		b.note("answer index: %s", st.MemoryErr)
	}
	for _, m := range st.Memory {
		b.step("  %-36s %.1f B/entry at %s entries", m.Benchmark, m.BytesPerEntry, thousands(m.Entries))
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	b.step("answer index: dnsward cache hits with the index on and off, %d rounds", indexRounds)
	var servers []*server
	defer func() { b.stopAll(servers...) }()
	for _, off := range []bool{false, true} {
		s, err := b.startWarmed(ctx, dnswardOpts{upstream: ts.stamp, cacheSize: b.opts.cacheSize(), answersOff: off},
			map[bool]string{false: indexOn, true: indexOff}[off])
		servers = append(servers, s)
		if err != nil {
			return err
		}
	}
	st.Rounds = b.alternate(ctx, "answer index", servers, indexRounds, func(s *server) *runStats {
		return measure(ctx, s, ts, s.variant, b.spec(s.port, b.hot))
	})
	medians := medianRuns(st.Rounds)
	st.On, st.Off = findVariant(medians, "dnsward", indexOn), findVariant(medians, "dnsward", indexOff)
	return ctx.Err()
}

// startWarmed starts a dnsward with o, named variant in the tables, and
// warms its cache with the hot set.
func (b *bench) startWarmed(ctx context.Context, o dnswardOpts, variant string) (*server, error) {
	s, err := b.lab.startDnsward(ctx, o)
	if err != nil {
		return s, err
	}
	s.variant = variant
	return s, warm(ctx, s, b.spec(s.port, b.hot), b.hotNames())
}

// alternate runs run against each server rounds times, in the order given
// in odd rounds and reversed in even ones, so that a drift of the
// machine's load shows in every server's runs; it returns each round's
// runs, recorded under workload.
func (b *bench) alternate(ctx context.Context, workload string, servers []*server, rounds int, run func(*server) *runStats) [][]*runStats {
	var out [][]*runStats
	for r := range rounds {
		order := slices.Clone(servers)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		var round []*runStats
		for _, s := range order {
			if ctx.Err() != nil {
				break
			}
			round = append(round, b.record(workload, run(s)))
		}
		out = append(out, round)
	}
	return out
}

// indexMemoryPerEntry runs the answers package's memory benchmarks once
// each and reads their B/entry and entries metrics; what did not run is
// missing from the result.
func indexMemoryPerEntry(ctx context.Context) []indexMemory {
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "^BenchmarkMemoryPerEntry", "-benchtime", "1x",
		"github.com/dnsward/dnsward/answers")
	out, _ := cmd.Output()
	return parseIndexMemory(string(out))
}

// parseIndexMemory reads `go test -bench` output lines such as
// "BenchmarkMemoryPerEntry-2  1  812 ns/op  125.3 B/entry  1000000 entries".
func parseIndexMemory(out string) []indexMemory {
	var ms []indexMemory
	for _, r := range parseBenchMetrics(out) {
		if _, ok := indexBenchmarks[r.name]; !ok {
			continue
		}
		m := indexMemory{Benchmark: r.name, BytesPerEntry: r.metrics["B/entry"], Entries: int64(r.metrics["entries"])}
		if m.BytesPerEntry > 0 && m.Entries > 0 {
			ms = append(ms, m)
		}
	}
	return ms
}

// benchLine is one result line of `go test -bench`: the benchmark's name
// without its -GOMAXPROCS suffix, and its metrics by unit.
type benchLine struct {
	name    string
	metrics map[string]float64
}

// parseBenchMetrics reads the result lines of `go test -bench` output,
// "BenchmarkX-2  1000  812 ns/op  3.5 unit ...": every value followed by
// its unit, after the iteration count; other lines are skipped.
func parseBenchMetrics(out string) []benchLine {
	var rs []benchLine
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			continue // "--- FAIL" and the like
		}
		name, _, _ := strings.Cut(f[0], "-")
		r := benchLine{name: name, metrics: map[string]float64{}}
		for i := 2; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				r.metrics[f[i+1]] = v
			}
		}
		rs = append(rs, r)
	}
	return rs
}

// indexSection writes the answer-index workload's figures and its floor.
func indexSection(b *strings.Builder, st *indexStats, tmp string) {
	b.WriteString("## Answer index: memory per entry, and the cost of cache hits\n\n")
	if st == nil {
		b.WriteString("Not measured in this run.\n\n")
		return
	}
	b.WriteString("Memory held per entry (Go heap, and what the index maps off it) by a full index (`answers.max_entries` 1,000,000; one and a half times as many answers observed, the least recently answered evicted), from the answers package's own benchmarks run once (`go test -bench '^BenchmarkMemoryPerEntry' ./answers`):\n\n")
	if len(st.Memory) == 0 {
		fmt.Fprintf(b, "Not measured: %s.\n\n", st.MemoryErr)
	} else {
		b.WriteString("| benchmark | entries | bytes per entry | full index |\n|---|---:|---:|---:|\n")
		for _, m := range st.Memory {
			fmt.Fprintf(b, "| `%s` (%s) | %s | %.1f | %.0f MB |\n", m.Benchmark, indexBenchmarks[m.Benchmark], thousands(m.Entries),
				m.BytesPerEntry, m.BytesPerEntry*float64(m.Entries)/1e6)
		}
		b.WriteString("\n")
	}
	pairSection(b, "Answer index on and off: dnsward cache hits",
		fmt.Sprintf("The cache-hit run of table 1 against two dnsward instances, `answers.enabled: true` (the default) and `false`, started side by side and warmed; %d rounds, alternating which goes first; each row is the median round.", indexRounds),
		st.Rounds, st.On, st.Off, tmp)
	f := indexFloorOf(st)
	fmt.Fprintf(b, "- **%s** — %s\n\n", f.verdict(), f.line())
}

// pairSection writes the table of a workload run against two dnsward
// variants in alternating rounds: the median rows, first and second (nil
// when not measured), after intro and every round's qps of each.
func pairSection(b *strings.Builder, title, intro string, rounds [][]*runStats, first, second *runStats, tmp string) {
	var rows []*runStats
	var each []string
	for _, r := range []*runStats{first, second} {
		if r != nil {
			rows = append(rows, r)
			name := r.Variant
			if name == "" {
				name = r.Server
			}
			each = append(each, name+" "+roundsQPS(rounds, r.label()))
		}
	}
	if len(each) > 0 {
		intro += " Every round's qps: " + strings.Join(each, ", ") + "."
	}
	section(b, title, intro, rows, nil, nil, tmp)
}

// indexFloorOf judges issue 20's floor: with the index on, cache-hit qps
// at least indexFloor of the qps with it off, in the same run.
func indexFloorOf(st *indexStats) floor {
	f := floor{text: fmt.Sprintf("cache hits with the answer index on: at least %.2f× the qps with it off, 0 lost", indexFloor)}
	if st.On != nil && st.Off != nil {
		on, off := st.On.Perf.QPS, st.Off.Perf.QPS
		f.text += fmt.Sprintf(": %s qps on, %s off = %s (dnsward's CPU per answer, less swayed by other work than qps: %s µs on, %s µs off)",
			thousands(int64(on)), thousands(int64(off)), ratio(on, off), cpuPerAnswer(st.On), cpuPerAnswer(st.Off))
		f.judge(on >= indexFloor*off, append(roundsOf(st.Rounds, st.On.label()), roundsOf(st.Rounds, st.Off.label())...)...)
	}
	return f
}

// cpuPerAnswer is the server's CPU time per answered query in µs, to a
// tenth: the table's whole µs are too coarse to show the index's share.
func cpuPerAnswer(r *runStats) string {
	if len(r.Gaps) > 0 || r.Perf.Completed == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", float64(r.ServerCPU.Nanoseconds())/1e3/float64(r.Perf.Completed))
}
