package resolver_test

import (
	"fmt"
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
	query := packQuery(b, "example.test.")
	exchange := udpExchanger(b, e.Addr)
	exchange(query)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		exchange(query)
	}
}

// BenchmarkCacheMissDNSCrypt measures a name asked once, forwarded over
// DNSCrypt to an in-process resolver that keeps shared keys, as real ones
// do; its share shows under testserver in a -cpuprofile.
func BenchmarkCacheMissDNSCrypt(b *testing.B) {
	ts := testserver.ForTestWith(b, testserver.Options{KeyCache: true})
	e := startEnv(b, envOptions{upstreams: []string{ts.Stamp}})
	exchange := udpExchanger(b, e.Addr)
	exchange(packQuery(b, "warm.gen.test."))
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		b.StopTimer()
		query := packQuery(b, fmt.Sprintf("m%d.gen.test.", i))
		i++
		b.StartTimer()
		exchange(query)
	}
}

func packQuery(b *testing.B, name string) []byte {
	query, err := new(dns.Msg).SetQuestion(name, dns.TypeA).SetEdns0(1232, false).Pack()
	if err != nil {
		b.Fatal(err)
	}
	return query
}

// udpExchanger returns a function that sends a query to addr from one
// socket and waits for the reply.
func udpExchanger(b *testing.B, addr string) func(query []byte) {
	conn, err := net.Dial("udp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	buf := make([]byte, 1500)
	return func(query []byte) {
		if _, err := conn.Write(query); err != nil {
			b.Fatal(err)
		}
		if _, err := conn.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}
