package upstream_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/dnsward/dnsward/testserver"
	"github.com/dnsward/dnsward/upstream"
	"github.com/miekg/dns"
)

// TestGroupHandsOverMessages: OnMessages sees each exchange's query and
// response, the answered one and the failed one (nil response), and
// Server names the plain upstream's address for dnstap.
func TestGroupHandsOverMessages(t *testing.T) {
	live, dead := testserver.ForTest(t), testserver.ForTest(t)
	dead.SetSilent(true)
	var ups []upstream.Upstream
	for _, s := range []*testserver.Server{dead, live} {
		u, err := upstream.Parse(s.PlainUDP(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, u)
	}
	type seen struct {
		addr     netip.AddrPort
		answered bool
	}
	var got []seen
	g := upstream.NewGroup(ups, 200*time.Millisecond)
	g.OnMessages = func(up upstream.Upstream, q, r *dns.Msg, sent, done time.Time) {
		addr, transport, ok := upstream.Server(up)
		if !ok || transport != "udp" || q.Question[0].Name != "example.test." || done.Before(sent) {
			t.Errorf("OnMessages(%v, %v, %v, %v, %v): server %v %q %v", up, q.Question, r != nil, sent, done, addr, transport, ok)
		}
		got = append(got, seen{addr, r != nil})
	}
	if _, _, err := g.Exchange(context.Background(), query("example.test.", dns.TypeA)); err != nil {
		t.Fatal(err)
	}
	want := []seen{
		{netip.MustParseAddrPort(dead.PlainUDP()[len("udp://"):]), false},
		{netip.MustParseAddrPort(live.PlainUDP()[len("udp://"):]), true},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("exchanges seen %+v, want %+v", got, want)
	}
}

// TestServer names each kind of upstream's server, and none for one
// dialled by host name.
func TestServer(t *testing.T) {
	tests := []struct {
		raw       string
		addr      string
		transport string
	}{
		{"udp://127.0.0.1:53", "127.0.0.1:53", "udp"},
		{"tcp://[::1]:5353", "[::1]:5353", "tcp"},
		{"tls://127.0.0.1:853#dns.example", "127.0.0.1:853", "tcp"},
		{"https://127.0.0.1/dns-query", "127.0.0.1:443", "tcp"},
		{"https://dns.example/dns-query", "", ""},
	}
	for _, tt := range tests {
		u, err := upstream.Parse(tt.raw, time.Second)
		if err != nil {
			t.Fatalf("%s: %v", tt.raw, err)
		}
		addr, transport, ok := upstream.Server(u)
		if ok != (tt.addr != "") || (ok && (addr.String() != tt.addr || transport != tt.transport)) {
			t.Errorf("Server(%s) = %v %q %v, want %q %q", tt.raw, addr, transport, ok, tt.addr, tt.transport)
		}
	}
}
