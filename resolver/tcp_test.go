package resolver_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/dnsward/dnsward/resolver"
	"github.com/dnsward/dnsward/testserver"
	"github.com/miekg/dns"
)

// tcpPipeline answers the clients in allowed from a test resolver.
func tcpPipeline(t *testing.T, allowed string) *resolver.Pipeline {
	t.Helper()
	p, err := resolver.NewPipeline(resolver.Config{
		Allowed: []netip.Prefix{netip.MustParsePrefix(allowed)}, Upstreams: parseUpstreams(t, testserver.ForTest(t).PlainUDP()),
		Attempt: time.Second, Timeout: time.Second, Cache: resolver.CacheConfig{Size: 10},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// serveTCP serves p with limits on a loopback TCP port until the test ends.
func serveTCP(t *testing.T, p *resolver.Pipeline, limits resolver.Limits) string {
	t.Helper()
	ls, err := resolver.Listen([]string{"127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	srv := &resolver.Server{Pipeline: p, Logger: slog.New(slog.DiscardHandler), Limits: limits}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ls) }()
	t.Cleanup(func() { cancel(); waitStopped(t, done, 15*time.Second) })
	return ls.TCP[0].Addr().String()
}

// Connections from clients outside allow_clients are closed at accept, so
// they cannot take the TCP places the allowed clients need.
func TestDisallowedTCPClientsHoldNoPlace(t *testing.T) {
	addr := serveTCP(t, tcpPipeline(t, "127.0.0.1/32"), resolver.Limits{TCPPerClient: 16, TCPTotal: 3})
	for i := range 6 {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%3))}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Closed by the server without a word: the read ends at once
		// instead of waiting for the deadline.
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("disallowed connection %d: read %d bytes, %v; want it closed at accept", i, n, err)
		}
	}
	c, err := dns.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := c.WriteMsg(new(dns.Msg).SetQuestion("example.test.", dns.TypeA)); err != nil {
		t.Fatal(err)
	}
	if r, err := c.ReadMsg(); err != nil || r.Rcode != dns.RcodeSuccess {
		t.Fatalf("allowed client after disallowed ones: %v %v", r, err)
	}
}

// Every query pipelined on one TCP connection is answered: the server
// used to close after 1,000 with the rest unread, and the reset that
// followed threw away answers it had already written.
func TestManyPipelinedTCPQueries(t *testing.T) {
	c, err := dns.Dial("tcp", serveTCP(t, tcpPipeline(t, "127.0.0.0/8"), resolver.Limits{}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	const queries = 5000
	written := make(chan error, 1)
	go func() {
		// ANY is answered locally, so the test measures the connection,
		// not an upstream.
		for i := range queries {
			m := new(dns.Msg).SetQuestion("pipelined.example.test.", dns.TypeANY)
			m.Id = uint16(i)
			if err := c.WriteMsg(m); err != nil {
				written <- err
				return
			}
		}
		written <- nil
	}()
	for i := range queries {
		r, err := c.ReadMsg()
		if err != nil {
			t.Fatalf("answer %d of %d: %v", i+1, queries, err)
		}
		if r.Id != uint16(i) || r.Rcode != dns.RcodeSuccess {
			t.Fatalf("answer %d: id %d, %s", i+1, r.Id, dns.RcodeToString[r.Rcode])
		}
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
}
