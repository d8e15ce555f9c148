package querylog

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/dnsward/dnsward/answers"
	"github.com/miekg/dns"
)

// Version is the schema version written in every record's v field.
const Version = 1

// Entry is one answered query, as the resolver hands it over.
type Entry struct {
	Time      time.Time      // when the query arrived
	Proto     string         // "udp" or "tcp"
	Client    netip.AddrPort // who asked
	Question  dns.Question   // what was asked
	Request   *dns.Msg       // the query as received (not mutated after Log), for dnstap; nil = rebuilt from Question
	Response  *dns.Msg       // the response sent (not mutated after Log); nil if none was sent
	Rcode     int            // used when Response is nil
	Source    string         // "cache", "upstream", "blocked", "local", "refused"
	Upstream  string         // which upstream answered, "" if none
	Latency   time.Duration  // from arrival to response
	BlockList string         // the list that blocked the query, if blocked
	BlockRule string         // the rule within BlockList that matched
	// Error is why the query got SERVFAIL without an upstream answering:
	// every upstream failed, or too many queries were waiting on them.
	Error string
	// Age is how long a cached Response had been held, in seconds; the
	// TTLs logged are counted down by it, as the client saw them.
	Age uint32
	// RebindAddr is the private address of an upstream answer refused as
	// DNS rebinding (Source "rebind"), invalid otherwise.
	RebindAddr netip.Addr
	// Device is the client's identity at query time (MAC from the
	// neighbour table, name from the DHCP leases); zero when unknown.
	Device answers.Device
	flow   *FlowRecord // set by LogFlow: this entry is a flow record
}

// Record is one self-contained log line: one answer RR of one query, or the
// query alone when its response carried no answers.
type Record struct {
	V          int        `json:"v"`
	Time       time.Time  `json:"ts"`
	QID        string     `json:"qid"`
	Proto      string     `json:"proto"`
	Client     netip.Addr `json:"client"`
	ClientPort uint16     `json:"client_port"`
	ClientMAC  string     `json:"client_mac,omitempty"`  // the client's MAC, lowercase
	ClientHost string     `json:"client_host,omitempty"` // the client's DHCP hostname
	QName      string     `json:"qname"`
	QType      string     `json:"qtype"`
	Rcode      string     `json:"rcode"`
	Source     string     `json:"source"`
	Upstream   string     `json:"upstream,omitempty"`
	LatencyUS  int64      `json:"latency_us"`
	BlockList  string     `json:"block_list,omitempty"`
	BlockRule  string     `json:"block_rule,omitempty"`
	Error      string     `json:"error,omitempty"`
	RebindAddr string     `json:"rebind_address,omitempty"` // the private address refused
	Name       string     `json:"name,omitempty"`           // answer owner name
	Type       string     `json:"type,omitempty"`           // answer type
	Data       string     `json:"data,omitempty"`           // answer rdata as text
	TTL        uint32     `json:"ttl,omitempty"`            // answer TTL
	Chain      []string   `json:"chain,omitempty"`          // qname, CNAME targets…, owner
}

// Records splits e into self-contained records, all sharing qid.
func Records(qid string, e Entry) []Record {
	return appendRecords(nil, new(scratch), qid, e)
}

// scratch is what appendRecords reuses from one entry to the next: the
// bytes its records' rendered data is, and the CNAME walk their chains
// are. The records it appends are valid until its next use, which the
// dispatcher encodes them before; so a logged answer allocates nothing.
type scratch struct {
	text []byte
	walk []string
}

// reset makes s ready for the next entry's records.
func (s *scratch) reset() {
	s.text, s.walk = s.text[:0], s.walk[:0]
}

// addr renders a as text in s.
func (s *scratch) addr(a netip.Addr) string {
	start := len(s.text)
	s.text = a.AppendTo(s.text)
	return unsafe.String(&s.text[start], len(s.text)-start)
}

// appendRecords lets the dispatcher reuse one slice, and one scratch,
// across entries.
func appendRecords(dst []Record, s *scratch, qid string, e Entry) []Record {
	s.reset()
	rcode := e.Rcode
	if e.Response != nil {
		rcode = e.Response.Rcode
	}
	base := Record{
		V:          Version,
		Time:       e.Time.UTC(),
		QID:        qid,
		Proto:      e.Proto,
		Client:     e.Client.Addr().Unmap(),
		ClientPort: e.Client.Port(),
		ClientMAC:  e.Device.MAC.String(),
		ClientHost: e.Device.Host,
		QName:      trimDot(e.Question.Name),
		QType:      dns.Type(e.Question.Qtype).String(),
		Rcode:      RcodeName(rcode),
		Source:     e.Source,
		Upstream:   e.Upstream,
		LatencyUS:  e.Latency.Microseconds(),
		BlockList:  e.BlockList,
		BlockRule:  e.BlockRule,
		Error:      e.Error,
	}
	if e.RebindAddr.IsValid() {
		base.RebindAddr = e.RebindAddr.Unmap().String()
	}
	if e.Response == nil || len(e.Response.Answer) == 0 {
		return append(dst, base)
	}
	walk := cnameWalk(s.walk, e.Question.Name, e.Response.Answer)
	s.walk = walk
	for _, rr := range e.Response.Answer {
		h := rr.Header()
		r := base
		r.Name = trimDot(h.Name)
		r.Type = dns.Type(h.Rrtype).String()
		r.Data = rdata(s, rr)
		r.TTL = h.Ttl
		if e.Age > 0 {
			r.TTL = AgedTTL(h.Ttl, e.Age)
		}
		r.Chain = chainTo(walk, r.Name)
		dst = append(dst, r)
	}
	return dst
}

// cnameWalk appends to walk the names from qname following CNAMEs through
// answer. It is bounded by the number of answers so that a CNAME loop
// cannot spin forever.
func cnameWalk(walk []string, qname string, answer []dns.RR) []string {
	walk = append(walk, trimDot(qname))
	cur := qname
	for range answer {
		next := ""
		for _, rr := range answer {
			if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, cur) {
				next = c.Target
				break
			}
		}
		if next == "" {
			break
		}
		cur = next
		walk = append(walk, trimDot(cur))
	}
	return walk
}

// chainTo returns the walk prefix ending at owner; nil when owner is not
// reachable from the question (so the record claims no false lineage).
func chainTo(walk []string, owner string) []string {
	for i, n := range walk {
		if strings.EqualFold(n, owner) {
			return walk[: i+1 : i+1]
		}
	}
	return nil
}

// rdata renders the answer's data, addresses in s; fast paths cover the
// types that make up nearly all LAN traffic.
func rdata(s *scratch, rr dns.RR) string {
	switch rr := rr.(type) {
	case *dns.A:
		if a, ok := netip.AddrFromSlice(rr.A); ok {
			return s.addr(a.Unmap())
		}
	case *dns.AAAA:
		if a, ok := netip.AddrFromSlice(rr.AAAA); ok {
			return s.addr(a)
		}
	case *dns.CNAME:
		return trimDot(rr.Target)
	case *dns.PTR:
		return trimDot(rr.Ptr)
	case *dns.NS:
		return trimDot(rr.Ns)
	case *dns.DNAME:
		return trimDot(rr.Target)
	}
	return strings.TrimPrefix(rr.String(), rr.Header().String())
}

// trimDot drops the root dot so logged names match what people grep for.
func trimDot(s string) string {
	if len(s) > 1 && s[len(s)-1] == '.' {
		return s[:len(s)-1]
	}
	return s
}

// RcodeName names a response's rcode, as the query log and the metrics
// show it. miekg/dns names 16 BADSIG, its meaning in a TSIG record; in a
// response's header and OPT, where dnsward's rcodes come from, 16 is
// BADVERS (RFC 6891).
func RcodeName(rcode int) string {
	if rcode == dns.RcodeBadVers {
		return "BADVERS"
	}
	if s, ok := dns.RcodeToString[rcode]; ok {
		return s
	}
	return "RCODE" + strconv.Itoa(rcode)
}

// AgedTTL is a cached record's TTL after age seconds: counted down, but
// never to 0, which would tell the client not to cache at all. The
// resolver counts down by it, and the log shows what the client got.
func AgedTTL(ttl, age uint32) uint32 {
	return max(ttl-min(ttl, age), 1)
}
