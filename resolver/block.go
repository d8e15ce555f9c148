package resolver

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/dnsward/dnsward/blocklists"
	"github.com/miekg/dns"
)

// Blocklist says whether a name is blocked, or allowed outright, and by
// which list and rule.
type Blocklist interface {
	Blocked(name string) (blocklists.Match, bool)
	Allowed(name string) (blocklists.Match, bool)
}

// BlockResponse is how a blocked name is answered.
type BlockResponse struct {
	Mode BlockMode
	// IPv4 and IPv6 are the addresses given in BlockIP mode.
	IPv4, IPv6 net.IP
	TTL        time.Duration
}

// BlockGroup blocks more names for the clients in some networks.
type BlockGroup struct {
	Name    string
	Clients []netip.Prefix
	Lists   Blocklist
}

// Block answers listed names itself, and also blocks an upstream answer
// whose CNAME chain passes through a listed name (CNAME cloaking).
type Block struct {
	// Lists apply to every client; Groups to their clients only.
	Lists    Blocklist
	Groups   []BlockGroup
	Response BlockResponse
	Next     Stage
}

// Answer blocks the question's name, or asks the next stage and checks the
// CNAME targets of its answer, deferred or not.
func (b *Block) Answer(ctx context.Context, q *Query) (*dns.Msg, error) {
	client := q.Client.Addr().Unmap()
	if match, ok := b.Match(q.Question().Name, client); ok {
		return b.blocked(q, match), nil
	}
	m, err := b.Next.Answer(ctx, q)
	if d, ok := err.(*Deferred); ok {
		return nil, d.Then(func(m *dns.Msg) *dns.Msg { return b.uncloaked(q, client, m) })
	}
	if err != nil {
		return m, err
	}
	return b.uncloaked(q, client, m), nil
}

// uncloaked is m, or the block answer when its CNAME chain passes through
// a name blocked for client.
func (b *Block) uncloaked(q *Query, client netip.Addr, m *dns.Msg) *dns.Msg {
	for _, rr := range m.Answer {
		if cname, ok := rr.(*dns.CNAME); ok {
			if match, ok := b.Match(cname.Target, client); ok {
				return b.blocked(q, match)
			}
		}
	}
	return m
}

// Match says whether name is blocked for client: by the lists for every
// client, or by a list of a group the client is in, named "group/list",
// unless the lists for every client allow it outright. An allow rule that
// spared the name is returned with false.
func (b *Block) Match(name string, client netip.Addr) (blocklists.Match, bool) {
	if b.Lists != nil {
		if m, blocked := b.Lists.Blocked(name); blocked || m != (blocklists.Match{}) {
			return m, blocked
		}
	}
	for _, g := range b.Groups {
		if !contains(g.Clients, client) {
			continue
		}
		if gm, blocked := g.Lists.Blocked(name); blocked {
			if b.Lists != nil {
				if allow, ok := b.Lists.Allowed(name); ok {
					return allow, false
				}
			}
			gm.List = g.Name + "/" + gm.List
			return gm, true
		}
	}
	return blocklists.Match{}, false
}

func (b *Block) blocked(q *Query, match blocklists.Match) *dns.Msg {
	q.Source, q.BlockList, q.BlockRule = SourceBlocked, match.List, match.Rule
	question := q.Question()
	hdr := dns.RR_Header{Name: question.Name, Rrtype: question.Qtype, Class: dns.ClassINET, Ttl: uint32(b.Response.TTL / time.Second)}
	switch b.Response.Mode {
	case BlockRefused:
		return reply(q, dns.RcodeRefused)
	case BlockNull, BlockIP:
		m := reply(q, dns.RcodeSuccess)
		v4, v6 := net.IPv4zero, net.IPv6zero
		if b.Response.Mode == BlockIP {
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
