package resolver

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/dnsward/dnsward/lan"
	"github.com/miekg/dns"
)

// Local answers what belongs to the LAN and keeps it from leaking upstream:
// hosts, leases and static records, local domains [local=], single-label
// names [domain-needed], private reverse zones [bogus-priv] and ANY.
type Local struct {
	Names *atomic.Pointer[lan.Names]
	// Domains are never forwarded: a name under one that is not in Names
	// is NXDOMAIN.
	Domains []string
	// DomainNeeded answers single-label names locally.
	DomainNeeded bool
	// PrivateReverse are reverse zones answered locally (see ReverseZones),
	// except for names under Forwarded: a forward zone for a private
	// reverse zone takes precedence over bogus_priv, as in dnsmasq.
	PrivateReverse []string
	Forwarded      []string
	Next           Stage
}

// Answer gives the local answer or passes the query on.
func (l *Local) Answer(ctx context.Context, q *Query) (*dns.Msg, error) {
	question := q.Question()
	name := strings.ToLower(question.Name)
	if question.Qtype == dns.TypeANY {
		return l.minimalANY(q), nil
	}
	if names := l.Names.Load(); names != nil {
		if rrs, found := names.Lookup(name, question.Qtype); found {
			m := l.authoritative(q, dns.RcodeSuccess)
			m.Answer = rrs
			return m, nil
		}
	}
	if l.isLocal(name) {
		return l.authoritative(q, dns.RcodeNameError), nil
	}
	return l.Next.Answer(ctx, q)
}

// isLocal says whether name must never reach an upstream.
func (l *Local) isLocal(name string) bool {
	if l.DomainNeeded && dns.CountLabel(name) == 1 {
		return true
	}
	if underAny(name, l.Domains) {
		return true
	}
	return strings.HasSuffix(name, ".arpa.") && underAny(name, l.PrivateReverse) && !underAny(name, l.Forwarded)
}

// ForwardedPrivateReverse lists the forward zones that take private reverse
// lookups away from bogus_priv: those in or above a private reverse zone,
// lowercased FQDNs in the order given.
func ForwardedPrivateReverse(zones []string) []string {
	private := privateReverseZones()
	var out []string
	for _, z := range canonicalAll(zones) {
		if !strings.HasSuffix(z, ".arpa.") {
			continue
		}
		if underAny(z, private) || slices.ContainsFunc(private, func(p string) bool { return underAny(p, []string{z}) }) {
			out = append(out, z)
		}
	}
	return out
}

// privateReverseZones are the reverse zones of every private range.
func privateReverseZones() []string {
	return ReverseZones(privatePrefixes(func(privateNetwork) bool { return true }))
}

// underAny says whether name is one of the domains or below one; all are
// lowercased FQDNs. It is on every query's path, so it compares suffixes
// rather than splitting names into labels.
func underAny(name string, domains []string) bool {
	for _, d := range domains {
		if name == d || strings.HasSuffix(name, d) && name[len(name)-len(d)-1] == '.' {
			return true
		}
	}
	return false
}

func (l *Local) authoritative(q *Query, rcode int) *dns.Msg {
	q.Source = SourceLocal
	m := reply(q, rcode)
	m.Authoritative = true
	return m
}

// minimalANY answers ANY with one synthesised HINFO (RFC 8482), so ANY
// cannot be used for amplification.
func (l *Local) minimalANY(q *Query) *dns.Msg {
	m := l.authoritative(q, dns.RcodeSuccess)
	m.Answer = []dns.RR{&dns.HINFO{
		Hdr: dns.RR_Header{Name: q.Question().Name, Rrtype: dns.TypeHINFO, Class: dns.ClassINET, Ttl: 3600},
		Cpu: "RFC8482",
	}}
	return m
}

// ReverseZones lists the in-addr.arpa. and ip6.arpa. zones covering the
// prefixes, widening each to the next octet (IPv4) or nibble (IPv6).
func ReverseZones(prefixes []netip.Prefix) []string {
	var zones []string
	for _, p := range prefixes {
		step := 8
		if p.Addr().Is6() {
			step = 4
		}
		bits := (p.Bits() + step - 1) / step * step
		// Enumerate the sub-prefixes of length bits: at most 2^(step-1).
		count := 1 << (bits - p.Bits())
		base := p.Masked().Addr()
		for i := range count {
			zones = append(zones, reverseZone(addAt(base, bits, i), bits))
		}
	}
	return zones
}

// addAt adds i to addr counting in units of the bit just above position bits.
func addAt(addr netip.Addr, bits, i int) netip.Addr {
	b := addr.AsSlice()
	for bit := bits - 1; i > 0 && bit >= 0; bit-- {
		if i&1 == 1 {
			b[bit/8] |= 0x80 >> (bit % 8)
		}
		i >>= 1
	}
	out, _ := netip.AddrFromSlice(b)
	return out
}

func reverseZone(addr netip.Addr, bits int) string {
	full, _ := dns.ReverseAddr(addr.String())
	labels := dns.SplitDomainName(full)
	keep := bits / 8
	if addr.Is6() {
		keep = bits / 4
	}
	arpa := 2 // in-addr.arpa or ip6.arpa
	return dns.Fqdn(strings.Join(labels[len(labels)-arpa-keep:], "."))
}
