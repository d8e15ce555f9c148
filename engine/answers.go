package engine

import (
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/dnsward/dnsward/answers"
	"github.com/dnsward/dnsward/querylog"
	"github.com/miekg/dns"
)

// observe records in ix the addresses a client was given, with the name it
// asked, the CNAME chain and the TTL it was given. Blocked answers are left
// out: their addresses are dnsward's own, not the name's.
func observe(ix *answers.Index, e *querylog.Entry) {
	if e.Response == nil || e.Response.Rcode != dns.RcodeSuccess || e.Source == "blocked" {
		return
	}
	var buf [8]netip.Addr
	addrs := buf[:0]
	var chain []string
	ttl := uint32(math.MaxUint32)
	for _, rr := range e.Response.Answer {
		var ip []byte
		switch rr := rr.(type) {
		case *dns.A:
			ip = rr.A
		case *dns.AAAA:
			ip = rr.AAAA
		case *dns.CNAME:
			chain = append(chain, strings.TrimSuffix(rr.Target, "."))
			continue
		default:
			continue
		}
		if a, ok := netip.AddrFromSlice(ip); ok {
			addrs = append(addrs, a.Unmap())
			ttl = min(ttl, querylog.AgedTTL(rr.Header().Ttl, e.Age))
		}
	}
	if len(addrs) == 0 {
		return
	}
	ix.Observe(answers.Answer{
		Client: e.Client.Addr(),
		Device: e.Device,
		Name:   strings.TrimSuffix(e.Question.Name, "."),
		Chain:  chain,
		TTL:    time.Duration(ttl) * time.Second,
		At:     e.Time,
	}, addrs...)
}
