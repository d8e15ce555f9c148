package resolver

import (
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/dnsward/dnsward/internal/mmsg"
	"github.com/dnsward/dnsward/upstream"
	"github.com/miekg/dns"
)

// BenchmarkHitPath measures what the reader spends on one cache hit between
// its system calls: decoding, the pipeline and the packed reply, without
// the sockets (BenchmarkCacheHitUDP has those).
func BenchmarkHitPath(b *testing.B) {
	// Never asked: the answer is stored in the cache first.
	up, err := upstream.Parse("udp://127.0.0.1:9", time.Second)
	if err != nil {
		b.Fatal(err)
	}
	p, err := NewPipeline(Config{
		Allowed:   []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Upstreams: []upstream.Upstream{up}, Attempt: time.Second, Timeout: 2 * time.Second,
		Cache: CacheConfig{Size: 1000, MaxTTL: time.Hour},
	})
	if err != nil {
		b.Fatal(err)
	}
	query, err := new(dns.Msg).SetQuestion("h1.hot.gen.test.", dns.TypeA).SetEdns0(1232, false).Pack()
	if err != nil {
		b.Fatal(err)
	}
	answered := 0
	s := &Server{Pipeline: p, Logger: slog.New(slog.DiscardHandler), Done: func(*Query, *dns.Msg) { answered++ }}
	client := netip.MustParseAddrPort("127.0.0.1:5300")
	answer := new(dns.Msg).SetQuestion("h1.hot.gen.test.", dns.TypeA)
	answer.Response = true
	answer.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "h1.hot.gen.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(192, 0, 2, 1)}}
	if p.Cache.store(cacheKey{"h1.hot.gen.test.", dns.TypeA, dns.ClassINET, false}, answer, "bench") == nil {
		b.Fatal("answer not cached")
	}
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
}
