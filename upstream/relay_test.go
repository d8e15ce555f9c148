package upstream_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dnsward/dnsward/testserver"
	"github.com/dnsward/dnsward/upstream"
	"github.com/miekg/dns"
)

// relayFrom is the address the test relay sends from, so the resolver can
// tell it from the client's 127.0.0.1.
var relayFrom = netip.MustParseAddr("127.0.0.2")

// anonRelay is an Anonymized DNSCrypt relay on loopback: it checks each
// datagram's header, forwards the query to the resolver the header
// names, which must be want, and sends the reply back.
type anonRelay struct {
	addr, stamp    string
	forwarded, bad atomic.Int32
}

// relayStamp is the sdns:// stamp of a relay at addr.
func relayStamp(addr string) string {
	return "sdns://" + base64.RawURLEncoding.EncodeToString(append([]byte{0x81, byte(len(addr))}, addr...))
}

func newAnonRelay(t *testing.T, want string) *anonRelay {
	t.Helper()
	in, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	out, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(relayFrom, 0)))
	if err != nil {
		in.Close()
		t.Skipf("skipped: no %s: %v", relayFrom, err)
	}
	r := &anonRelay{addr: in.LocalAddr().String(), stamp: relayStamp(in.LocalAddr().String())}
	l, err := net.Listen("tcp", r.addr)
	if err != nil {
		in.Close()
		out.Close()
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { in.Close(); out.Close(); l.Close(); wg.Wait() })
	magic := append(bytes.Repeat([]byte{0xff}, 8), 0, 0)
	// target checks a query's header and returns the resolver it names.
	target := func(p []byte) (netip.AddrPort, bool) {
		if len(p) < 28 || !bytes.Equal(p[:10], magic) {
			r.bad.Add(1)
			return netip.AddrPort{}, false
		}
		to := netip.AddrPortFrom(netip.AddrFrom16([16]byte(p[10:26])).Unmap(), binary.BigEndian.Uint16(p[26:28]))
		if to.String() != want {
			r.bad.Add(1)
			return netip.AddrPort{}, false
		}
		return to, true
	}
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				q, err := readPrefixed(c)
				to, ok := target(q)
				if err != nil || !ok {
					return
				}
				s, err := (&net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(relayFrom, 0))}).Dial("tcp", to.String())
				if err != nil {
					return
				}
				defer s.Close()
				_ = s.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := s.Write(prefixed(q[28:])); err != nil {
					return
				}
				if reply, err := readPrefixed(s); err == nil {
					r.forwarded.Add(1)
					_, _ = c.Write(prefixed(reply))
				}
			})
		}
	})
	wg.Go(func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := in.ReadFrom(buf)
			if err != nil {
				return
			}
			p := buf[:n]
			to, ok := target(p)
			if !ok {
				continue
			}
			if _, err := out.WriteToUDPAddrPort(p[28:], to); err != nil {
				return
			}
			_ = out.SetReadDeadline(time.Now().Add(2 * time.Second))
			m, src, err := out.ReadFromUDPAddrPort(buf)
			if err != nil || src != to {
				continue
			}
			r.forwarded.Add(1)
			_, _ = in.WriteTo(buf[:m], from)
		}
	})
	return r
}

func prefixed(p []byte) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(p))), p...)
}

func readPrefixed(c net.Conn) ([]byte, error) {
	var n [2]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		return nil, err
	}
	p := make([]byte, binary.BigEndian.Uint16(n[:]))
	_, err := io.ReadFull(c, p)
	return p, err
}

// silentRelay is the address and stamp of a relay that reads and never
// answers.
func silentRelay(t *testing.T) (addr, stamp string) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String(), relayStamp(pc.LocalAddr().String())
}

// TestDNSCryptThroughRelay asks a DNSCrypt resolver through a relay: the
// certificate and the queries travel through it, framed as the
// Anonymized DNSCrypt protocol says, and the resolver sees only the
// relay's address.
func TestDNSCryptThroughRelay(t *testing.T) {
	ts := testserver.ForTest(t)
	relay := newAnonRelay(t, ts.CryptAddr)
	u, err := upstream.Parse(ts.Stamp+"|via="+relay.stamp, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if want := "dnscrypt://2.dnscrypt-cert.dnsward.test@" + ts.CryptAddr + "|via=" + relay.addr; u.String() != want {
		t.Errorf("named %s, want %s", u, want)
	}
	tests := []struct {
		name    string
		qtype   uint16
		answers int
	}{
		{"example.test.", dns.TypeA, 1},
		{"n1.gen.test.", dns.TypeA, 1},
		// Truncated over UDP, asked again over TCP, through the relay too.
		{testserver.BigName, dns.TypeTXT, 12},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r, err := u.Exchange(ctx, query(tt.name, tt.qtype))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Answer) != tt.answers || r.Answer[0].Header().Name != tt.name {
			t.Fatalf("%s answered with %v", tt.name, r.Answer)
		}
	}
	// The certificate, three queries, and one again over TCP.
	if n, bad := relay.forwarded.Load(), relay.bad.Load(); n != 5 || bad != 0 {
		t.Errorf("relay forwarded %d messages and refused %d, want 5 and none", n, bad)
	}
	if c := ts.Clients(); !slices.Equal(c, []netip.Addr{relayFrom}) {
		t.Errorf("the resolver saw queries from %v, want only the relay's %s", c, relayFrom)
	}
}

// TestDNSCryptRelayFailover gives the upstream a silent relay first: the
// group's next try goes through the second, which then carries the rest.
// Close ends the certificate fetch still waiting on the silent one.
func TestDNSCryptRelayFailover(t *testing.T) {
	ts := testserver.ForTest(t)
	live := newAnonRelay(t, ts.CryptAddr)
	silent, silentStamp := silentRelay(t)
	// The fetch through the silent relay would wait a minute.
	u, err := upstream.Parse(ts.Stamp+"|via="+silentStamp+","+live.stamp, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	g := upstream.NewGroup([]upstream.Upstream{u}, 300*time.Millisecond)
	for _, name := range []string{"example.test.", "n1.gen.test."} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r, _, err := g.Exchange(ctx, query(name, dns.TypeA))
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(r.Answer) != 1 {
			t.Fatalf("%s answered with %v", name, r.Answer)
		}
	}
	if n := live.forwarded.Load(); n != 3 {
		t.Errorf("the second relay forwarded %d datagrams, want the certificate and both queries", n)
	}
	if c := ts.Clients(); !slices.Equal(c, []netip.Addr{relayFrom}) {
		t.Errorf("the resolver saw queries from %v, want only the relay's %s", c, relayFrom)
	}
	if n := socketsTo(t, silent); n != 1 {
		t.Fatalf("%d sockets to the silent relay, want the fetch's", n)
	}
	g.Close()
	waitUntil(t, "the fetch through the silent relay to end", func() bool { return socketsTo(t, silent) == 0 })
}
