package resolver_test

import (
	"testing"
	"time"

	"github.com/dnsward/dnsward/testserver"
	"github.com/miekg/dns"
)

// TestAnsweredWithoutUpstream sends what a forwarder must not pass on:
// every one is answered locally, over UDP and TCP, with the request's
// opcode, and the upstream is never asked.
func TestAnsweredWithoutUpstream(t *testing.T) {
	ts := testserver.ForTest(t)
	e := startEnv(t, envOptions{upstreams: []string{ts.PlainUDP()}})
	query := func(name string, qtype, qclass uint16) *dns.Msg {
		m := new(dns.Msg).SetQuestion(name, qtype)
		m.Question[0].Qclass = qclass
		return m
	}
	withOpcode := func(m *dns.Msg, opcode int) *dns.Msg { m.Opcode = opcode; return m }
	twoOPT := query("opt.example.test.", dns.TypeA, dns.ClassINET).SetEdns0(1232, false)
	twoOPT.Extra = append(twoOPT.Extra, &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: 512}})
	tests := []struct {
		name  string
		req   *dns.Msg
		rcode int
	}{
		{"NOTIFY", withOpcode(query("notify.example.test.", dns.TypeSOA, dns.ClassINET), dns.OpcodeNotify), dns.RcodeNotImplemented},
		{"CHAOS version.bind", query("version.bind.", dns.TypeTXT, dns.ClassCHAOS), dns.RcodeRefused},
		{"AXFR", query("axfr.example.test.", dns.TypeAXFR, dns.ClassINET), dns.RcodeRefused},
		{"IXFR", query("ixfr.example.test.", dns.TypeIXFR, dns.ClassINET), dns.RcodeRefused},
		{"two OPT records", twoOPT, dns.RcodeFormatError},
	}
	for _, tt := range tests {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(tt.name+" "+network, func(t *testing.T) {
				c := &dns.Client{Net: network, Timeout: 5 * time.Second}
				r, _, err := c.Exchange(tt.req, e.Addr)
				if err != nil {
					t.Fatal(err)
				}
				if r.Rcode != tt.rcode || r.Opcode != tt.req.Opcode {
					t.Errorf("rcode %s opcode %s, want %s opcode %s", dns.RcodeToString[r.Rcode], dns.OpcodeToString[r.Opcode],
						dns.RcodeToString[tt.rcode], dns.OpcodeToString[tt.req.Opcode])
				}
				if q := e.lastSource(t); q.Source.String() != "local" {
					t.Errorf("source %q, want local", q.Source)
				}
				if n := ts.Queries(tt.req.Question[0].Name); n != 0 {
					t.Errorf("upstream asked %d times", n)
				}
			})
		}
	}
}
