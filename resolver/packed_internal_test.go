package resolver

import (
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// A cache hit answered from the packed form must be the same message the
// server would have built from the stored dns.Msg.
func TestPackedReplyMatchesMessageReply(t *testing.T) {
	stored := new(dns.Msg)
	stored.SetQuestion("www.example.test.", dns.TypeA)
	stored.Response, stored.Rcode = true, dns.RcodeSuccess
	stored.Answer = []dns.RR{
		&dns.CNAME{Hdr: dns.RR_Header{Name: "www.example.test.", Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 300}, Target: "web.example.test."},
		&dns.A{Hdr: dns.RR_Header{Name: "web.example.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(192, 0, 2, 1)},
	}
	stored.Ns = []dns.RR{&dns.NS{Hdr: dns.RR_Header{Name: "example.test.", Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 20}, Ns: "ns.example.test."}}
	nx := new(dns.Msg)
	nx.SetQuestion("nope.example.test.", dns.TypeAAAA)
	nx.Response, nx.Rcode = true, dns.RcodeNameError
	nx.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: "example.test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
		Ns: "ns.example.test.", Mbox: "h.example.test.", Serial: 1, Minttl: 60}}

	tests := []struct {
		name   string
		stored *dns.Msg
		qname  string
		edns   bool
		do     bool
		rd, cd bool
		age    uint32
	}{
		{"plain", stored, "www.example.test.", false, false, true, false, 0},
		{"mixed case kept", stored, "WwW.ExAmple.TEST.", false, false, true, false, 7},
		{"edns", stored, "www.example.test.", true, false, true, false, 30},
		{"edns do and cd", stored, "www.example.test.", true, true, false, true, 299},
		{"aged past ttl floors at 1", stored, "www.example.test.", true, false, true, false, 5000},
		{"nxdomain", nx, "Nope.example.test.", true, false, true, false, 59},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			packed, err := packAnswer(tt.stored, dns.CanonicalName(tt.qname))
			if err != nil {
				t.Fatal(err)
			}
			req := new(dns.Msg).SetQuestion(tt.qname, tt.stored.Question[0].Qtype)
			req.Id, req.RecursionDesired, req.CheckingDisabled = 4242, tt.rd, tt.cd
			if tt.edns {
				req.SetEdns0(4096, tt.do)
			}
			wire, ok := packed.appendReply(nil, req, tt.age, dns.MaxMsgSize)
			if !ok {
				t.Fatal("packed reply refused")
			}
			var got dns.Msg
			if err := got.Unpack(wire); err != nil {
				t.Fatalf("packed reply does not unpack: %v", err)
			}
			e := &cacheEntry{msg: tt.stored}
			want := e.aged(tt.age)
			s := &Server{Logger: slog.New(slog.DiscardHandler)}
			s.finish(&Query{Req: req, Client: netip.MustParseAddrPort("127.0.0.1:1"), Proto: "udp", Start: time.Now()}, want, dns.MaxMsgSize)
			// Names compressed against the question take the client's
			// spelling; DNS names compare without case.
			if got.Question[0].Name != tt.qname {
				t.Errorf("question echoed as %q, want %q", got.Question[0].Name, tt.qname)
			}
			if !strings.EqualFold(got.String(), want.String()) {
				t.Errorf("packed reply:\n%s\nwant:\n%s", got.String(), want.String())
			}
		})
	}
}

func TestPackedReplyFallsBack(t *testing.T) {
	stored := new(dns.Msg).SetQuestion("big.example.test.", dns.TypeTXT)
	stored.Response = true
	for range 10 {
		stored.Answer = append(stored.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: "big.example.test.", Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60},
			Txt: []string{"0123456789012345678901234567890123456789012345678901234567890123456789"}})
	}
	packed, err := packAnswer(stored, "big.example.test.")
	if err != nil {
		t.Fatal(err)
	}
	fits := new(dns.Msg).SetQuestion("big.example.test.", dns.TypeTXT)
	if _, ok := packed.appendReply(nil, fits, 0, dns.MinMsgSize); ok {
		t.Error("a reply over the client's size limit was not refused")
	}
	if _, ok := packed.appendReply(nil, fits, 0, dns.MaxMsgSize); !ok {
		t.Error("a reply within the limit was refused")
	}
	escaped := new(dns.Msg).SetQuestion(`big\.x.example.test.`, dns.TypeTXT)
	if _, ok := packed.appendReply(nil, escaped, 0, dns.MaxMsgSize); ok {
		t.Error("a question with escapes was respelled in place")
	}
}
