package resolver

import (
	"context"
	"math"
	"net/netip"
	"time"

	"github.com/dnsward/dnsward/querylog"
	"github.com/miekg/dns"
)

// SetFeeder puts the addresses answered for some names into firewall sets
// (nftset.Feeder, through the engine).
type SetFeeder interface {
	// Covers says whether the answers for name go to any set. It is asked
	// on every query that reaches SetFeed, so it must be cheap.
	Covers(name string) bool
	// Add adds addrs, answered for name with ttl left, and returns once
	// they are in or after its own bounded wait; it keeps no reference to
	// addrs. Its failures are its own to count and log.
	Add(ctx context.Context, name string, addrs []netip.Addr, ttl time.Duration) error
}

// SetFeed hands the A and AAAA addresses of the answers for the names Sets
// covers to Sets before the answer goes to the client, so that the
// client's first packet to them finds the firewall open (dnsmasq's
// nftset=). It sits after the local names, which are the LAN's and not
// egress, and before blocking and the cache, so that cache hits pass
// through it and blocked answers are seen as blocked. Other names cost one
// Covers.
type SetFeed struct {
	Sets SetFeeder
	Next Stage
}

// Answer passes a name Sets does not cover on; for one it does, it defers,
// so that a UDP reader never waits on the add, and the worker adds the
// answer's addresses before the answer is returned.
func (s *SetFeed) Answer(ctx context.Context, q *Query) (*dns.Msg, error) {
	name := q.Question().Name
	if !s.Sets.Covers(name) {
		return s.Next.Answer(ctx, q)
	}
	return nil, &Deferred{Wait: func(ctx context.Context) (*dns.Msg, error) {
		m, err := Resolve(ctx, s.Next, q)
		if err == nil {
			s.feed(ctx, q, name, m)
		}
		return m, err
	}}
}

// feed adds the addresses of m, an answer from upstream or the cache, with
// the TTL the client is given: the smallest of theirs, counted down by the
// cache entry's age.
func (s *SetFeed) feed(ctx context.Context, q *Query, name string, m *dns.Msg) {
	switch q.Source {
	case SourceUpstream, SourceCache, SourceStale:
	default:
		// Blocked, refused or rebinding answers: their addresses are not
		// the name's.
		return
	}
	if m == nil || m.Rcode != dns.RcodeSuccess {
		return
	}
	var buf [8]netip.Addr
	if addrs, ttl := AnswerAddrs(buf[:0], m.Answer, q.age(m)); len(addrs) > 0 {
		_ = s.Sets.Add(ctx, name, addrs, time.Duration(ttl)*time.Second)
	}
}

// AnswerAddrs appends the A and AAAA addresses of answer to dst, IPv4 ones
// unmapped, and returns them with the least of their TTLs counted down by
// age: what the client may use them for (math.MaxUint32 when there are
// none).
func AnswerAddrs(dst []netip.Addr, answer []dns.RR, age uint32) ([]netip.Addr, uint32) {
	ttl := uint32(math.MaxUint32)
	for _, rr := range answer {
		var ip []byte
		switch rr := rr.(type) {
		case *dns.A:
			ip = rr.A
		case *dns.AAAA:
			ip = rr.AAAA
		default:
			continue
		}
		if a, ok := netip.AddrFromSlice(ip); ok {
			dst = append(dst, a.Unmap())
			ttl = min(ttl, querylog.AgedTTL(rr.Header().Ttl, age))
		}
	}
	return dst, ttl
}
