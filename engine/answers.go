package engine

import (
	"net/netip"
	"strings"
	"time"

	"github.com/dnsward/dnsward/answers"
	"github.com/dnsward/dnsward/querylog"
	"github.com/dnsward/dnsward/resolver"
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
	addrs, ttl := resolver.AnswerAddrs(buf[:0], e.Response.Answer, e.Age)
	if len(addrs) == 0 {
		return
	}
	var chain []string
	for _, rr := range e.Response.Answer {
		if c, ok := rr.(*dns.CNAME); ok {
			chain = append(chain, strings.TrimSuffix(c.Target, "."))
		}
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
