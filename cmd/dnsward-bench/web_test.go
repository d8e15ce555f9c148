package main

import (
	"strings"
	"testing"
)

// TestWebWorkload runs the web workload alone and prints its section:
// DNSWARD_BENCH_WEB=1 to run it (it needs dnsperf, builds dnsward and the
// test resolver, and loads the machine for about 2 × webRounds ×
// DNSWARD_BENCH_L seconds, 10 unless set).
func TestWebWorkload(t *testing.T) {
	ctx, b, ts := workloadBench(t, "DNSWARD_BENCH_WEB", "the web workload")
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
