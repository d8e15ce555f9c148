package main

import (
	"strings"
	"testing"
	"time"
)

func TestCacheFileReport(t *testing.T) {
	out := "goos: linux\nBenchmarkCacheFile/save-2 \t 1 \t 1219138040 ns/op \t 68.78 B/name \t 0.8266 cpu-s/op\n" +
		"BenchmarkCacheFile/load-2 \t 1 \t 2500000000 ns/op \t 68.78 B/name \t 4.826 cpu-s/op\nPASS\n"
	st := parseCacheFile(out)
	want := cacheFileStats{
		Save: cacheFileRun{1219138040, 826600 * time.Microsecond, 68.78},
		Load: cacheFileRun{2500 * time.Millisecond, 4826 * time.Millisecond, 68.78},
	}
	if *st != want {
		t.Errorf("parsed %+v, want %+v", *st, want)
	}
	var b strings.Builder
	cacheFileSection(&b, st)
	if s := b.String(); !strings.Contains(s, "**not met** — 1,000,000 names written in under 2s and loaded in under 2s: 1.219s and 2.5s") {
		t.Errorf("section:\n%s", s)
	}
	b.Reset()
	cacheFileSection(&b, parseCacheFile("FAIL\n"))
	if s := b.String(); !strings.Contains(s, "**not measured**") {
		t.Errorf("section without figures:\n%s", s)
	}
}
