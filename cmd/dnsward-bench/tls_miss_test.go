package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestTLSUpstream(t *testing.T) {
	tests := []struct{ variant, want string }{
		{dotUpstream, "tls://127.0.0.1:853?pin=PIN#dns.dnsward.test"},
		{dohUpstream, "https://127.0.0.1:443/dns-query?pin=PIN#dns.dnsward.test"},
	}
	for _, tt := range tests {
		if got := tlsUpstream(tt.variant, "127.0.0.1:853", "127.0.0.1:443", "PIN"); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.variant, got, tt.want)
		}
	}
}

// TestTLSMissWorkload runs table 2's cache misses through a dnsward over
// DNSCrypt (the reference row), then the DoT and DoH rows, and prints the
// DoT and DoH section: DNSWARD_BENCH_TLS=1 to run it (it needs dnsperf
// and unbound, builds dnsward and the test resolver, and loads the
// machine for about 4 × DNSWARD_BENCH_L seconds, 10 unless set).
func TestTLSMissWorkload(t *testing.T) {
	ctx, b, ts := workloadBench(t, "DNSWARD_BENCH_TLS", "the DoT and DoH cache-miss workload")
	b.miss = filepath.Join(b.lab.tmp, "miss.txt")
	if err := writeQueries(b.miss, b.opts.missNames, func(i int) string { return uniqueName("miss", i) }); err != nil {
		t.Fatal(err)
	}
	dw, err := b.lab.startDnsward(ctx, dnswardOpts{upstream: ts.stamp, cacheSize: b.opts.cacheSize()})
	if err != nil {
		t.Fatal(err)
	}
	if b.res.missFast, err = b.missRuns(ctx, ts, []*server{dw}, b.miss, "miss", "cache misses"); err != nil {
		t.Fatal(err)
	}
	b.stopAll(dw)
	if err := b.tlsMissPhase(ctx, ts); err != nil {
		t.Fatal(err)
	}
	var s strings.Builder
	tlsMissSection(&s, b.res.missTLS, find(b.res.missFast, "dnsward"), b.lab.tmp)
	t.Log("\n" + s.String())
	if len(b.res.missTLS) != 2 {
		t.Fatalf("%d rows, want DoT and DoH", len(b.res.missTLS))
	}
	for _, m := range b.res.missTLS {
		if m.Run.Perf.Completed == 0 || len(m.Run.Problems) > 0 {
			t.Errorf("%s: %d answered, problems %v", m.Run.Variant, m.Run.Perf.Completed, m.Run.Problems)
		}
	}
}
