package resolver

import (
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/dnsward/dnsward/internal/mmsg"
	"github.com/dnsward/dnsward/querylog"
	"github.com/dnsward/dnsward/upstream"
	"github.com/miekg/dns"
)

// BenchmarkHitPath measures what the reader spends on one cache hit between
// its system calls: decoding, the pipeline and the packed reply, without
// the sockets (BenchmarkCacheHitUDP has those).
func BenchmarkHitPath(b *testing.B) {
	p := hitPipeline(b)
	query, err := new(dns.Msg).SetQuestion("h1.hot.gen.test.", dns.TypeA).SetEdns0(1232, false).Pack()
	if err != nil {
		b.Fatal(err)
	}
	client := netip.MustParseAddrPort("127.0.0.1:5300")
	// The log on is what the engine's Done does for the query log: an
	// entry built and queued, here to a reader that drops it. Only a
	// dnstap sink needs the request, which is then kept, not reused.
	entries := make(chan querylog.Entry, 1024)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for range entries {
		}
	}()
	defer func() { close(entries); <-drained }()
	for _, tt := range []struct {
		name string
		done func(*Query, *dns.Msg)
	}{
		{"log off", func(*Query, *dns.Msg) {}},
		{"log on", func(q *Query, resp *dns.Msg) {
			e := q.LogEntry(resp)
			e.Request = nil
			entries <- e
		}},
		{"log and dnstap on", func(q *Query, resp *dns.Msg) { q.Keep(); entries <- q.LogEntry(resp) }},
	} {
		b.Run(tt.name, func(b *testing.B) {
			answered := 0
			s := &Server{Pipeline: p, Logger: slog.New(slog.DiscardHandler), Done: func(q *Query, resp *dns.Msg) {
				answered++
				tt.done(q, resp)
			}}
			u := &udpServer{s: s}
			var from mmsg.Sockaddr
			dst := make([]byte, 0, dns.MinMsgSize)
			b.ReportAllocs()
			for b.Loop() {
				wire, ok := u.answer(dst[:0], query, client, &from, nil)
				if !ok || len(wire) == 0 {
					b.Fatal("not answered from the cache")
				}
			}
			if answered == 0 {
				b.Fatal("Done never told")
			}
		})
	}
}

// hitPipeline is a pipeline for loopback clients whose cache holds an
// answer for h1.hot.gen.test. A; its upstream is never asked.
func hitPipeline(tb testing.TB) *Pipeline {
	tb.Helper()
	up, err := upstream.Parse("udp://127.0.0.1:9", time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := NewPipeline(Config{
		Allowed:   []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Upstreams: []upstream.Upstream{up}, Attempt: time.Second, Timeout: 2 * time.Second,
		Cache: CacheConfig{Size: 1000, MaxTTL: time.Hour},
	})
	if err != nil {
		tb.Fatal(err)
	}
	answer := new(dns.Msg).SetQuestion("h1.hot.gen.test.", dns.TypeA)
	answer.Response = true
	answer.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "h1.hot.gen.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(192, 0, 2, 1)}}
	if p.Cache.store(cacheKey{"h1.hot.gen.test.", dns.TypeA, dns.ClassINET, false}, answer, "bench") == nil {
		tb.Fatal("answer not cached")
	}
	return p
}

// A cache hit allocates nothing with the query log off, and only its
// query, kept by the log entry, with it on.
func TestHitPathAllocations(t *testing.T) {
	p := hitPipeline(t)
	query := packed(t, new(dns.Msg).SetQuestion("h1.hot.gen.test.", dns.TypeA).SetEdns0(1232, false))
	client := netip.MustParseAddrPort("127.0.0.1:5300")
	var entry querylog.Entry
	for _, tt := range []struct {
		name string
		done func(*Query, *dns.Msg)
		max  float64
	}{
		{"log off", func(*Query, *dns.Msg) {}, 0},
		{"log on", func(q *Query, resp *dns.Msg) { q.Keep(); entry = q.LogEntry(resp) }, 1},
	} {
		s := &Server{Pipeline: p, Logger: slog.New(slog.DiscardHandler), Done: tt.done}
		u := &udpServer{s: s}
		var from mmsg.Sockaddr
		dst := make([]byte, 0, dns.MinMsgSize)
		allocs := testing.AllocsPerRun(100, func() {
			if _, ok := u.answer(dst[:0], query, client, &from, nil); !ok {
				t.Fatal("not answered")
			}
		})
		if allocs > tt.max {
			t.Errorf("%s: %.1f allocations per cache hit, want at most %.0f", tt.name, allocs, tt.max)
		}
	}
	if entry.Source != "cache" {
		t.Errorf("logged source %q, want cache", entry.Source)
	}
}
