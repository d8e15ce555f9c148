package resolver_test

import (
	"net"
	"testing"
	"time"

	"github.com/dnsward/dnsward/testserver"
	"github.com/miekg/dns"
)

// FuzzListener throws arbitrary datagrams at a running server and checks
// after each that it still answers a well-formed query correctly.
func FuzzListener(f *testing.F) {
	valid, _ := new(dns.Msg).SetQuestion("example.test.", dns.TypeA).Pack()
	twoQ := new(dns.Msg).SetQuestion("example.test.", dns.TypeA)
	twoQ.Question = append(twoQ.Question, twoQ.Question[0])
	packedTwoQ, _ := twoQ.Pack()
	opt := new(dns.Msg).SetQuestion("example.test.", dns.TypeTXT)
	opt.SetEdns0(0xffff, true)
	packedOpt, _ := opt.Pack()
	for _, seed := range [][]byte{valid, packedTwoQ, packedOpt, {0}, make([]byte, 12), []byte("GET / HTTP/1.1\r\n\r\n")} {
		f.Add(seed)
	}
	ts := testserver.ForTest(f)
	e := startEnv(f, envOptions{upstreams: []string{ts.PlainUDP()}})
	junk, err := net.Dial("udp", e.Addr)
	if err != nil {
		f.Fatal(err)
	}
	defer junk.Close()
	c := &dns.Client{Timeout: 5 * time.Second}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := junk.Write(data); err != nil {
			t.Skip(err)
		}
		m := new(dns.Msg).SetQuestion("mail.example.test.", dns.TypeA)
		r, _, err := c.Exchange(m, e.Addr)
		if err != nil {
			t.Fatalf("no answer after %q: %v", data, err)
		}
		if r.Id != m.Id || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Fatalf("after %q: %v", data, r)
		}
	})
}
