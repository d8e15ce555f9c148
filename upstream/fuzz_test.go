package upstream_test

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dnsward/dnsward/upstream"
	"github.com/miekg/dns"
)

// FuzzResponse has a loopback server answer every query with arbitrary
// bytes (under the query's id, to get past the first check) and checks
// that the upstream either rejects them or returns a response to the
// question asked.
func FuzzResponse(f *testing.F) {
	q := new(dns.Msg).SetQuestion("example.test.", dns.TypeA)
	good := new(dns.Msg).SetReply(q)
	good.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "example.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)}}
	packed, _ := good.Pack()
	wrongQ := new(dns.Msg).SetReply(new(dns.Msg).SetQuestion("other.test.", dns.TypeA))
	packedWrong, _ := wrongQ.Pack()
	for _, seed := range [][]byte{packed, packedWrong, {0, 0}, make([]byte, 12), packed[:20]} {
		f.Add(seed)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	defer pc.Close()
	var reply atomic.Pointer[[]byte]
	go func() {
		buf := make([]byte, 512)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			out := append([]byte(nil), *reply.Load()...)
			if len(out) >= 2 && n >= 2 {
				copy(out, buf[:2])
			}
			pc.WriteTo(out, addr)
		}
	}()
	u := &upstream.Plain{Addr: pc.LocalAddr().String()}
	f.Fuzz(func(t *testing.T, data []byte) {
		reply.Store(&data)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		m := new(dns.Msg).SetQuestion("example.test.", dns.TypeA)
		r, err := u.Exchange(ctx, m)
		if err != nil {
			return
		}
		if r.Id != m.Id || !r.Response || len(r.Question) != 1 || !strings.EqualFold(r.Question[0].Name, "example.test.") || r.Question[0].Qtype != dns.TypeA {
			t.Fatalf("accepted a response to another question: %v", r)
		}
	})
}
