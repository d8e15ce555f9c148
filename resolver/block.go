package resolver

import (
	"context"
	"net"
	"strings"
	"time"

	"github.com/dnsward/dnsward/blocklists"
	"github.com/miekg/dns"
)

// Blocklist says whether a name is blocked, and by which list and rule.
type Blocklist interface {
	Blocked(name string) (blocklists.Match, bool)
}

// BlockResponse is how a blocked name is answered.
type BlockResponse struct {
	// Mode is "nxdomain", "null" (0.0.0.0 and ::), "refused" or "ip".
	Mode string
	// IPv4 and IPv6 are the addresses given in "ip" mode.
	IPv4, IPv6 net.IP
	TTL        time.Duration
}

// Block answers listed names itself, and also blocks an upstream answer
// whose CNAME chain passes through a listed name (CNAME cloaking).
type Block struct {
	Lists    Blocklist
	Response BlockResponse
	Next     Stage
}

// Answer blocks the question's name, or asks the next stage and checks the
// CNAME targets of its answer.
func (b *Block) Answer(ctx context.Context, q *Query) (*dns.Msg, error) {
	if match, ok := b.Lists.Blocked(q.Question().Name); ok {
		return b.blocked(q, match), nil
	}
	m, err := b.Next.Answer(ctx, q)
	if err != nil {
		return m, err
	}
	for _, rr := range m.Answer {
		if cname, ok := rr.(*dns.CNAME); ok {
			if match, ok := b.Lists.Blocked(cname.Target); ok {
				return b.blocked(q, match), nil
			}
		}
	}
	return m, nil
}

func (b *Block) blocked(q *Query, match blocklists.Match) *dns.Msg {
	q.Source, q.BlockList, q.BlockRule = "blocked", match.List, match.Rule
	question := q.Question()
	hdr := dns.RR_Header{Name: question.Name, Rrtype: question.Qtype, Class: dns.ClassINET, Ttl: uint32(b.Response.TTL / time.Second)}
	switch b.Response.Mode {
	case "refused":
		return reply(q, dns.RcodeRefused)
	case "null", "ip":
		m := reply(q, dns.RcodeSuccess)
		v4, v6 := net.IPv4zero, net.IPv6zero
		if b.Response.Mode == "ip" {
			v4, v6 = b.Response.IPv4, b.Response.IPv6
		}
		switch {
		case question.Qtype == dns.TypeA && v4 != nil:
			m.Answer = []dns.RR{&dns.A{Hdr: hdr, A: v4}}
		case question.Qtype == dns.TypeAAAA && v6 != nil:
			m.Answer = []dns.RR{&dns.AAAA{Hdr: hdr, AAAA: v6}}
		}
		return m
	default:
		m := reply(q, dns.RcodeNameError)
		// A SOA lets clients cache the refusal for the block TTL only.
		m.Ns = []dns.RR{&dns.SOA{
			Hdr: dns.RR_Header{Name: dns.Fqdn(strings.ToLower(question.Name)), Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: hdr.Ttl},
			Ns:  "blocked.dnsward.", Mbox: "hostmaster.dnsward.", Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: hdr.Ttl,
		}}
		return m
	}
}
