package engine

import (
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dnsward/dnsward/answers"
	"github.com/dnsward/dnsward/querylog"
	"github.com/miekg/dns"
)

// BenchmarkObserveCacheHit is what the answer index adds to a cache hit:
// observe on the entry of an answer (one A record) the index already
// holds, as the cache-hit workload of make bench repeats: "repeat" as most
// hits are, a repeat within the second of the same cache entry, and
// "unmarked" as the first hit of each second is.
func BenchmarkObserveCacheHit(b *testing.B) {
	ix := answers.New(answers.Options{})
	m := new(dns.Msg).SetQuestion("h7.hot.gen.test.", dns.TypeA)
	m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: m.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(192, 0, 2, 7)}}
	e := querylog.Entry{Time: time.Now(), Client: netip.MustParseAddrPort("127.0.0.1:5300"), Question: m.Question[0], Response: m, Source: "cache"}
	var mark atomic.Uint64
	observe(ix, &e, &mark)
	for _, bc := range []struct {
		name string
		mark *atomic.Uint64
	}{{"repeat", &mark}, {"unmarked", nil}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				observe(ix, &e, bc.mark)
			}
		})
	}
}
