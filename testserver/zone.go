// Package testserver serves deterministic synthetic DNS data over plain DNS
// and DNSCrypt on loopback, for tests, the demo and benchmarks.
package testserver

import (
	"encoding/binary"
	"hash/fnv"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// Zone is the apex of the synthetic data.
const Zone = "test."

// SOAMinimum is the negative-caching TTL (RFC 2308) the zone's SOA carries.
const SOAMinimum = 60

// AnswerTTL is the TTL of every positive record.
const AnswerTTL = 300

// records holds the fixed names; names under gen.test. are synthesised so a
// benchmark can ask for any number of unique names.
var records = map[string][]string{
	"example.test.":       {"example.test. 300 IN A 192.0.2.1", "example.test. 300 IN AAAA 2001:db8::1"},
	"www.example.test.":   {"www.example.test. 300 IN CNAME web.example.test."},
	"web.example.test.":   {"web.example.test. 300 IN CNAME example.test."},
	"mail.example.test.":  {"mail.example.test. 300 IN A 192.0.2.25"},
	"two.example.test.":   {"two.example.test. 300 IN A 192.0.2.1", "two.example.test. 300 IN A 192.0.2.2"},
	"short.example.test.": {"short.example.test. 2 IN A 192.0.2.3"},
	// A public name pointing into the LAN: what a rebinding attack serves.
	"rebind.example.test.":  {"rebind.example.test. 300 IN A 192.168.1.1"},
	"cloaked.example.test.": {"cloaked.example.test. 300 IN CNAME tracker.ads.test."},
	"tracker.ads.test.":     {"tracker.ads.test. 300 IN A 192.0.2.66"},
	SharedEdge:              {SharedEdge + " 300 IN A " + SharedAddr},
}

// SharedEdge and SharedAddr are where every name under shared.test.
// (through a CNAME) and direct.test. (directly) lead.
const (
	SharedEdge = "edge.cdn.test."
	SharedAddr = "192.0.2.100"
)

// BigName answers TXT with more than 512 bytes, so a UDP answer is truncated.
const BigName = "big.example.test."

func soa() dns.RR {
	return mustRR("test. 3600 IN SOA ns.test. hostmaster.test. 1 7200 3600 1209600 60")
}

func mustRR(s string) dns.RR {
	rr, err := dns.NewRR(s)
	if err != nil {
		panic(err)
	}
	return rr
}

// answer builds the authoritative response for one question.
func answer(req *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		return m
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	switch {
	case name == BigName:
		m.Answer = bigTXT(q)
	case strings.HasSuffix(name, ".gen.test."):
		m.Answer = generated(name, q.Qtype)
	case strings.HasSuffix(name, ".shared.test."):
		// Every name is a CNAME to one edge host: many questions, one IP,
		// as with a CDN.
		m.Answer = follow(name, q.Qtype, []string{q.Name + " 300 IN CNAME " + SharedEdge})
	case strings.HasSuffix(name, ".direct.test."):
		m.Answer = follow(name, q.Qtype, []string{q.Name + " 300 IN A " + SharedAddr})
	default:
		rrs, ok := records[name]
		if !ok {
			m.Rcode = dns.RcodeNameError
		}
		m.Answer = follow(name, q.Qtype, rrs)
	}
	if len(m.Answer) == 0 {
		m.Ns = []dns.RR{soa()}
	}
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(opt.UDPSize(), opt.Do())
	}
	return m
}

// follow resolves CNAMEs inside the zone, as an authoritative server does.
func follow(name string, qtype uint16, rrs []string) []dns.RR {
	var out []dns.RR
	for range 8 {
		next := ""
		for _, s := range rrs {
			rr := mustRR(s)
			if cname, ok := rr.(*dns.CNAME); ok && qtype != dns.TypeCNAME {
				out = append(out, rr)
				next = cname.Target
				continue
			}
			if rr.Header().Rrtype == qtype {
				out = append(out, rr)
			}
		}
		if next == "" {
			return out
		}
		rrs = records[next]
	}
	return out
}

func bigTXT(q dns.Question) []dns.RR {
	if q.Qtype != dns.TypeTXT {
		return nil
	}
	var out []dns.RR
	for i := range 12 {
		out = append(out, &dns.TXT{
			Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: AnswerTTL},
			Txt: []string{strings.Repeat(string(rune('a'+i)), 100)},
		})
	}
	return out
}

// GeneratedAddr is the A record every name under gen.test. resolves to: an
// address in 198.18.0.0/15 (RFC 2544), which no rebinding guard rejects.
func GeneratedAddr(name string) netip.Addr {
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(dns.Fqdn(name))))
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], h.Sum32())
	b[0], b[1] = 198, 18|b[1]&1
	return netip.AddrFrom4(b)
}

func generated(name string, qtype uint16) []dns.RR {
	if qtype != dns.TypeA {
		return nil
	}
	return []dns.RR{&dns.A{
		Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: AnswerTTL},
		A:   GeneratedAddr(name).AsSlice(),
	}}
}
