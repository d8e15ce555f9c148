package resolver_test

import (
	"net"
	"testing"

	"github.com/dnsward/dnsward/testserver"
	"github.com/miekg/dns"
)

// BenchmarkCacheHitUDP measures a cached answer over a real loopback
// socket, client included; run with -cpuprofile to see the server's share.
func BenchmarkCacheHitUDP(b *testing.B) {
	ts := testserver.ForTest(b)
	e := startEnv(b, envOptions{upstreams: []string{ts.Stamp}})
	query, _ := new(dns.Msg).SetQuestion("example.test.", dns.TypeA).SetEdns0(1232, false).Pack()
	conn, err := net.Dial("udp", e.Addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 1500)
	exchange := func() {
		if _, err := conn.Write(query); err != nil {
			b.Fatal(err)
		}
		if _, err := conn.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
	exchange()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		exchange()
	}
}
