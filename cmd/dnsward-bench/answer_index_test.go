package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseIndexMemory(t *testing.T) {
	out := "goos: linux\nBenchmarkMemoryPerEntry-2   \t       1\t1234 ns/op\t       125.3 B/entry\t   1000000 entries\n" +
		"BenchmarkMemoryPerEntryOwnAddress \t 1 \t 99 ns/op \t 140.0 B/entry \t 1000000 entries\n" +
		"BenchmarkObserve-2 \t 100 \t 98 ns/op\nBenchmarkMemoryPerEntry-2 --- FAIL\nPASS\n"
	got := parseIndexMemory(out)
	want := []indexMemory{{"BenchmarkMemoryPerEntry", 125.3, 1000000}, {"BenchmarkMemoryPerEntryOwnAddress", 140, 1000000}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("parsed %+v, want %+v", got, want)
	}
}

// TestAnswerIndexWorkload runs the answer-index workload alone and prints
// its section: DNSWARD_BENCH_INDEX=1 to run it (it needs dnsperf, builds
// dnsward and the test resolver, and loads the machine for about
// 2 × indexRounds × DNSWARD_BENCH_L seconds, 10 unless set).
func TestAnswerIndexWorkload(t *testing.T) {
	ctx, b, ts := workloadBench(t, "DNSWARD_BENCH_INDEX", "the answer-index workload")
	if err := b.answerIndexPhase(ctx, ts); err != nil {
		t.Fatal(err)
	}
	var s strings.Builder
	indexSection(&s, b.res.index, b.lab.tmp)
	t.Log("\n" + s.String())
	if st := b.res.index; st.On == nil || st.Off == nil || len(st.Memory) != len(indexBenchmarks) {
		t.Errorf("incomplete: on %v, off %v, memory %+v (%s)", st.On, st.Off, st.Memory, st.MemoryErr)
	}
}

// workloadBench skips the test unless the environment variable env is
// set; else it builds dnsward and the test resolver, writes the hot set
// and starts the test resolver, for a test that runs one workload alone.
// DNSWARD_BENCH_L and DNSWARD_BENCH_SATQ set the flags -l and -sat-q.
func workloadBench(t *testing.T, env, workload string) (context.Context, *bench, *server) {
	t.Helper()
	if os.Getenv(env) == "" {
		t.Skipf("set %s=1 to run %s (needs dnsperf)", env, workload)
	}
	if _, err := exec.LookPath("dnsperf"); err != nil {
		t.Fatalf("dnsperf: %v (make bench installs it)", err)
	}
	o, err := parseFlags([]string{"-l", cmpEnv("DNSWARD_BENCH_L", "10"), "-sat-q", cmpEnv("DNSWARD_BENCH_SATQ", "300")}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	o.bin = filepath.Join(dir, "bin")
	for _, p := range []string{"dnsward", "dnscrypt-testserver"} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(o.bin, p), "../"+p).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", p, err, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	l := &lab{tmp: dir, bin: o.bin, fleet: &fleet{}, ports: map[int]bool{}}
	t.Cleanup(l.fleet.stopAll)
	b := &bench{lab: l, opts: o, log: testWriter{t}, res: &results{opts: o, tmp: dir}, hot: filepath.Join(dir, "hot.txt")}
	if err := writeQueries(b.hot, o.hot, hotName); err != nil {
		t.Fatal(err)
	}
	ts, err := l.startTestServer(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, b, ts
}

// cmpEnv is the variable's value, or def when it is unset or empty.
func cmpEnv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// testWriter sends the bench's progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
