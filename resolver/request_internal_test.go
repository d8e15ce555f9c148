package resolver

import (
	"log/slog"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/dnsward/dnsward/internal/mmsg"
	"github.com/miekg/dns"
)

func packed(t testing.TB, m *dns.Msg) []byte {
	t.Helper()
	wire, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return wire
}

// requestSeeds are queries the in-place parser takes, or must leave to
// Unpack, each with which.
func requestSeeds(t testing.TB) []struct {
	name   string
	pkt    []byte
	parsed bool
} {
	q := func(name string, qtype uint16) *dns.Msg { return new(dns.Msg).SetQuestion(name, qtype) }
	flags := q("Flags.Example.TEST.", dns.TypeAAAA)
	flags.CheckingDisabled, flags.AuthenticatedData, flags.RecursionDesired, flags.Zero = true, true, false, true
	do := q("signed.example.test.", dns.TypeDNSKEY).SetEdns0(4096, true)
	xrcode := q("x.example.test.", dns.TypeA).SetEdns0(1232, false)
	xrcode.IsEdns0().SetExtendedRcode(dns.RcodeBadVers)
	cookie := q("c.example.test.", dns.TypeA).SetEdns0(1232, false)
	cookie.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"}}
	response := q("r.example.test.", dns.TypeA)
	response.Response = true
	notify := q("n.example.test.", dns.TypeSOA)
	notify.Opcode = dns.OpcodeNotify
	twoQ := q("a.example.test.", dns.TypeA)
	twoQ.Question = append(twoQ.Question, twoQ.Question[0])
	withAnswer := q("a.example.test.", dns.TypeA)
	withAnswer.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "a.example.test.", Rrtype: dns.TypeA, Class: dns.ClassINET}, A: net.IPv4(192, 0, 2, 1)}}
	long := strings.Repeat(strings.Repeat("a", 63)+".", 3) + strings.Repeat("b", 61) + "."
	plain := packed(t, q("a.example.test.", dns.TypeA))
	compressed := append(packed(t, q("a.", dns.TypeA))[:12], 0xC0, 12, 0, 1, 0, 1)
	return []struct {
		name   string
		pkt    []byte
		parsed bool
	}{
		{"plain", plain, true},
		{"flags and mixed case", packed(t, flags), true},
		{"EDNS with DO", packed(t, do), true},
		{"extended rcode", packed(t, xrcode), true},
		{"root", packed(t, q(".", dns.TypeNS)), true},
		{"longest name", packed(t, q(long, dns.TypeA)), true},
		{"wildcard, underscore, slash", packed(t, q("*._tcp.0/25.2.0.192.in-addr.arpa.", dns.TypePTR)), true},
		{"escaped byte", packed(t, q(`a\.b.example.test.`, dns.TypeA)), false},
		{"space", packed(t, q(`a\032b.example.test.`, dns.TypeA)), false},
		{"EDNS option", packed(t, cookie), false},
		{"response", packed(t, response), false},
		{"notify", packed(t, notify), false},
		{"two questions", packed(t, twoQ), false},
		{"answer section", packed(t, withAnswer), false},
		{"trailing byte", append(plain, 0), false},
		{"cut", plain[:len(plain)-1], false},
		{"compressed name", compressed, false},
		{"header only", plain[:12], false},
	}
}

// The in-place parser gives what Unpack gives, for every query it takes.
func TestRequestParseMatchesUnpack(t *testing.T) {
	var names nameTable
	for _, tt := range requestSeeds(t) {
		t.Run(tt.name, func(t *testing.T) {
			var r request
			if got := r.parse(tt.pkt, &names); got != tt.parsed {
				t.Fatalf("parsed %v, want %v", got, tt.parsed)
			}
			if tt.parsed {
				checkParsed(t, &r, tt.pkt)
			}
		})
	}
}

func checkParsed(t *testing.T, r *request, pkt []byte) {
	t.Helper()
	want := new(dns.Msg)
	if err := want.Unpack(pkt); err != nil {
		t.Fatalf("parsed what Unpack refuses: %v", err)
	}
	if !reflect.DeepEqual(&r.msg, want) {
		t.Fatalf("parsed\n%#v\nUnpack gives\n%#v", r.msg, *want)
	}
}

// FuzzRequestParse: whatever the parser takes, Unpack reads the same.
func FuzzRequestParse(f *testing.F) {
	for _, s := range requestSeeds(f) {
		f.Add(s.pkt)
	}
	var names nameTable
	f.Fuzz(func(t *testing.T, pkt []byte) {
		var r request
		if r.parse(pkt, &names) {
			checkParsed(t, &r, pkt)
		}
	})
}

// A UDP query is reused for the next datagram only when it was answered
// from a cache entry's wire form and Done did not keep it.
func TestRequestReusedUnlessKept(t *testing.T) {
	p := hitPipeline(t)
	var seen []*Query
	keep := false
	s := &Server{Pipeline: p, Logger: slog.New(slog.DiscardHandler), Done: func(q *Query, resp *dns.Msg) {
		if keep {
			q.Keep()
		}
		seen = append(seen, q)
	}}
	u := &udpServer{s: s}
	client := netip.MustParseAddrPort("127.0.0.1:5300")
	var from mmsg.Sockaddr
	ask := func(name string) {
		t.Helper()
		pkt := packed(t, new(dns.Msg).SetQuestion(name, dns.TypeA))
		if _, ok := u.answer(nil, pkt, client, &from, nil); !ok {
			t.Fatalf("%s not answered", name)
		}
	}
	ask("h1.hot.gen.test.")
	ask("h1.hot.gen.test.")
	if seen[0] != seen[1] {
		t.Error("a cache hit's query was not reused for the next")
	}
	keep = true
	ask("h1.hot.gen.test.")
	keep = false
	ask("H1.hot.gen.test.")
	if seen[2] == seen[3] || seen[2].Question().Name != "h1.hot.gen.test." {
		t.Errorf("a kept query was reused: it now asks %s", seen[2].Question().Name)
	}
	// A refusal is not from the cache: its reply was built from a message.
	refused := netip.MustParseAddrPort("192.0.2.1:5300")
	pkt := packed(t, new(dns.Msg).SetQuestion("h1.hot.gen.test.", dns.TypeA))
	for range 2 {
		u.answer(nil, pkt, refused, &from, nil)
	}
	if n := len(seen); n != 6 || seen[n-1] == seen[n-2] {
		t.Error("a query answered from a message was reused")
	}
}
