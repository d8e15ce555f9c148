package engine

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dnsward/dnsward/answers"
	"github.com/dnsward/dnsward/querylog"
	"github.com/dnsward/dnsward/resolver"
	"github.com/miekg/dns"
)

// observe records in ix the addresses a client was given, with the name it
// asked, the CNAME chain and the TTL it was given. Blocked answers are left
// out: their addresses are dnsward's own, not the name's.
//
// mark is the cache entry's repeat mark (resolver.Query.RepeatMark), nil
// for an answer that is not a cache entry. A cache entry gives every client
// the same addresses, chain and end of validity, so a repeat by the same
// client and device within the same second would only move the entry's
// LastAsked by less than a second: it is skipped, which takes the index
// off the path of most cache hits.
func observe(ix *answers.Index, e *querylog.Entry, mark *atomic.Uint64) {
	if e.Response == nil || e.Response.Rcode != dns.RcodeSuccess || e.Source == "blocked" {
		return
	}
	var tag uint64
	if mark != nil {
		tag = repeatTag(e.Client.Addr(), e.Device.MAC, e.Time)
		if mark.Load() == tag {
			return
		}
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
	if mark != nil {
		mark.Store(tag)
	}
}

// repeatTag identifies a client and device within one second: a hash of
// the two in the top 40 bits (never zero, the mark's initial value), and
// the Unix second in the low 24.
func repeatTag(client netip.Addr, mac answers.MAC, at time.Time) uint64 {
	const secondBits = 24
	c := client.Unmap().As16()
	var m [8]byte
	copy(m[:], mac[:])
	le := binary.LittleEndian
	h := (le.Uint64(c[:8])*0x9e3779b97f4a7c15 ^ le.Uint64(c[8:])) * 0xc2b2ae3d27d4eb4f
	h = (h ^ le.Uint64(m[:]) ^ h>>29) * 0x9e3779b97f4a7c15
	return (h|1<<63)&^(1<<secondBits-1) | uint64(at.Unix())&(1<<secondBits-1)
}
