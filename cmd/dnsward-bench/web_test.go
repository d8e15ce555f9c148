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

// TestWebWorkload runs the web workload alone and prints its section:
// DNSWARD_BENCH_WEB=1 to run it (it needs dnsperf, builds dnsward and the
// test resolver, and loads the machine for about 2 × webRounds ×
// DNSWARD_BENCH_L seconds, 10 unless set).
func TestWebWorkload(t *testing.T) {
	ctx, b, ts := standalone(t, "DNSWARD_BENCH_WEB", "the web workload")
	if err := b.webPhase(ctx, ts); err != nil {
		t.Fatal(err)
	}
	var s strings.Builder
	webSection(&s, b.res.web, b.res.tmp)
	t.Log("\n" + s.String())
	if st := b.res.web; st.Browsers == nil || st.None == nil || st.Requests == 0 || st.Events == 0 {
		t.Errorf("incomplete: with %v, without %v, %d requests, %d events", st.Browsers, st.None, st.Requests, st.Events)
	}
}

// standalone is what a workload run alone needs, stopped when the test
// ends: dnsward and the test resolver built, a lab with the hot query
// file, and the test resolver running. It skips t unless the variable env
// is set, and fails it without dnsperf.
func standalone(t *testing.T, env, what string) (context.Context, *bench, *server) {
	t.Helper()
	if os.Getenv(env) == "" {
		t.Skipf("set %s=1 to run %s (needs dnsperf)", env, what)
	}
	if _, err := exec.LookPath("dnsperf"); err != nil {
		t.Fatalf("dnsperf: %v (make bench installs it)", err)
	}
	o, err := parseFlags([]string{"-l", cmpEnv("DNSWARD_BENCH_L", "10")}, io.Discard)
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
	l := &lab{tmp: dir, bin: o.bin, fleet: &fleet{}, ports: map[int]bool{}}
	t.Cleanup(func() { l.fleet.stopAll(); cancel() })
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
