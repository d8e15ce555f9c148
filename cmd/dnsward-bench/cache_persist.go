package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// cacheFileBound is issue 23's bound on writing, and on loading, the cache
// file of a million names.
const cacheFileBound = 2 * time.Second

// cacheFileStats is the cache-file workload: the resolver package's
// BenchmarkCacheFile, which saves and loads a cache of a million names.
type cacheFileStats struct {
	Save, Load cacheFileRun
	// Err says why a figure is missing.
	Err string
}

// cacheFileRun is one sub-benchmark's figures.
type cacheFileRun struct {
	Took         time.Duration // wall-clock time per save or load
	CPU          time.Duration // the process's CPU time for it, GC included
	BytesPerName float64       // the file's size per name
}

// cacheFilePhase runs the resolver package's cache-file benchmark once.
func (b *bench) cacheFilePhase(ctx context.Context) error {
	b.step("cache file: a million names saved and loaded (go test -bench BenchmarkCacheFile in ./resolver)")
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "^BenchmarkCacheFile$", "-benchtime", "1x",
		"github.com/dnsward/dnsward/resolver")
	out, _ := cmd.Output()
	st := parseCacheFile(string(out))
	if st.Err != "" {
		b.note("cache file: %s", st.Err)
	}
	b.res.cacheFile = st
	b.step("  save %s (%s CPU), load %s (%s CPU), %.1f B/name", st.Save.Took.Round(time.Millisecond), st.Save.CPU.Round(time.Millisecond),
		st.Load.Took.Round(time.Millisecond), st.Load.CPU.Round(time.Millisecond), st.Load.BytesPerName)
	return ctx.Err()
}

// parseCacheFile reads `go test -bench` lines such as
// "BenchmarkCacheFile/save-2  1  1219138040 ns/op  68.78 B/name  0.83 cpu-s/op";
// Err says what is missing.
func parseCacheFile(out string) *cacheFileStats {
	st := &cacheFileStats{}
	for _, r := range parseBenchMetrics(out) {
		var run *cacheFileRun
		switch r.name {
		case "BenchmarkCacheFile/save":
			run = &st.Save
		case "BenchmarkCacheFile/load":
			run = &st.Load
		default:
			continue
		}
		run.Took = time.Duration(r.metrics["ns/op"])
		run.CPU = time.Duration(r.metrics["cpu-s/op"] * float64(time.Second))
		run.BytesPerName = r.metrics["B/name"]
	}
	if st.Save.Took == 0 || st.Load.Took == 0 {
		st.Err = "BenchmarkCacheFile did not report both save and load"
	}
	return st
}

// cacheFileSection writes the cache-file workload's figures and its floor.
func cacheFileSection(b *strings.Builder, st *cacheFileStats) {
	b.WriteString("## Cache file: a million names written and loaded\n\n")
	if st == nil {
		b.WriteString("Not measured in this run.\n\n")
		return
	}
	b.WriteString("The cache written to its file on a clean stop and loaded on start (`cache.persist`), a million A answers, from the resolver package's own benchmark run once (`go test -bench '^BenchmarkCacheFile$' ./resolver`); CPU is the process's, the garbage collector's included, and for a load the collection of what it left.\n\n")
	b.WriteString("| | took | CPU | file per name |\n|---|---:|---:|---:|\n")
	for _, r := range []struct {
		name string
		run  cacheFileRun
	}{{"save (temporary file, fsync, rename)", st.Save}, {"load (checksum, TTLs aged, into the cache)", st.Load}} {
		fmt.Fprintf(b, "| %s | %s | %s | %.1f B |\n", r.name, r.run.Took.Round(time.Millisecond), r.run.CPU.Round(time.Millisecond), r.run.BytesPerName)
	}
	b.WriteString("\n")
	f := floor{text: fmt.Sprintf("1,000,000 names written in under %s and loaded in under %s", cacheFileBound, cacheFileBound)}
	if st.Err == "" {
		f.measured, f.met = true, st.Save.Took < cacheFileBound && st.Load.Took < cacheFileBound
		f.text += fmt.Sprintf(": %s and %s", st.Save.Took.Round(time.Millisecond), st.Load.Took.Round(time.Millisecond))
	} else {
		f.text += ": " + st.Err
	}
	fmt.Fprintf(b, "- **%s** — %s\n\n", f.verdict(), f.line())
}
