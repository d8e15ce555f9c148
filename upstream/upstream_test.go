package upstream_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ameshkov/dnsstamps"
	"github.com/dnsward/dnsward/testserver"
	"github.com/dnsward/dnsward/upstream"
	"github.com/miekg/dns"
)

func TestParse(t *testing.T) {
	ts := testserver.ForTest(t)
	stamp := func(s dnsstamps.ServerStamp) string { return s.String() }
	hash := make([]byte, 32)
	tests := []struct {
		raw, want, err string
	}{
		{"udp://127.0.0.1:53", "udp://127.0.0.1:53", ""},
		{"tcp://[::1]:5300", "tcp://[::1]:5300", ""},
		{ts.Stamp, "dnscrypt://2.dnscrypt-cert.dnsward.test@" + ts.CryptAddr, ""},
		{"tls://192.0.2.1", "tls://192.0.2.1:853", ""},
		{"tls://[2001:db8::1]:8853#dns.example", "tls://[2001:db8::1]:8853#dns.example", ""},
		{"tls://192.0.2.1#dns.example?pin=" + strings.Repeat("A", 43) + "=", "tls://192.0.2.1:853#dns.example", ""},
		{"tls://192.0.2.1?pin=" + strings.Repeat("_", 43) + "&pin=" + strings.Repeat("+", 43) + "#dns.example", "tls://192.0.2.1:853#dns.example", ""},
		{"https://dns.example/dns-query", "https://dns.example/dns-query", ""},
		{"https://192.0.2.1:8443/dns-query?pin=" + strings.Repeat("A", 43) + "#dns.example", "https://192.0.2.1:8443/dns-query#dns.example", ""},
		// Cloudflare's DoH stamp.
		{"sdns://AgcAAAAAAAAABzEuMC4wLjEAEmRucy5jbG91ZGZsYXJlLmNvbQovZG5zLXF1ZXJ5", "https://dns.cloudflare.com/dns-query", ""},
		{stamp(dnsstamps.ServerStamp{Proto: dnsstamps.StampProtoTypeTLS, ServerAddrStr: "192.0.2.1", ProviderName: "dns.example", Hashes: [][]byte{hash}}), "tls://192.0.2.1:853#dns.example", ""},
		{stamp(dnsstamps.ServerStamp{Proto: dnsstamps.StampProtoTypeTLS, ProviderName: "dns.example:8853"}), "tls://dns.example:8853", ""},
		{ts.Stamp + "|via=" + relayStamp("127.0.0.1:4434"), "dnscrypt://2.dnscrypt-cert.dnsward.test@" + ts.CryptAddr + "|via=127.0.0.1:4434", ""},
		{ts.Stamp + "|via=" + relayStamp("[::1]") + "," + relayStamp("192.0.2.1"), "dnscrypt://2.dnscrypt-cert.dnsward.test@" + ts.CryptAddr + "|via=[::1]:443,192.0.2.1:443", ""},
		{relayStamp("192.0.2.1"), "", "a relay's: pair it with a DNSCrypt stamp"},
		{ts.Stamp + "|via=" + relayStamp("relay.example"), "", "want an IP address"},
		{ts.Stamp + "|via=sdns://AQ", "", "not a DNSCrypt relay stamp"},
		{ts.Stamp + "|via=", "", "not an sdns:// stamp"},
		{"sdns://AgcAAAAAAAAABzEuMC4wLjEAEmRucy5jbG91ZGZsYXJlLmNvbQovZG5zLXF1ZXJ5|via=" + relayStamp("192.0.2.1"), "", "relays carry DNSCrypt only, not DoH"},
		{"127.0.0.1:53", "", "want sdns://, udp://, tcp://, tls:// or https://"},
		{"udp://127.0.0.1", "", "missing port"},
		{"udp://127.0.0.1:53/path", "", "want udp://host:port"},
		{"quic://dns.example", "", `unknown scheme "quic"`},
		{"sdns://AQ", "", "upstream stamp"},
		{stamp(dnsstamps.ServerStamp{Proto: dnsstamps.StampProtoTypePlain, ServerAddrStr: "192.0.2.1"}), "", "protocol Plain, want DNSCrypt, DoT or DoH"},
		{stamp(dnsstamps.ServerStamp{Proto: dnsstamps.StampProtoTypeTLS, ServerAddrStr: "192.0.2.1", ProviderName: "dns.example", Hashes: [][]byte{{1, 2, 3}}}), "", "certificate hash of 3 bytes"},
		{"tls://", "", "want tls://host[:port]"},
		{"tls://192.0.2.1/dns-query", "", "want tls://host[:port]"},
		{"tls://192.0.2.1?pin=abc", "", `pin "abc"`},
		{"tls://192.0.2.1?pin=" + strings.Repeat("A", 40), "", "30 bytes, want a 32-byte SHA-256 digest"},
		{"tls://192.0.2.1?pin=*", "", "not base64"},
		{"tls://192.0.2.1?sni=dns.example", "", `unknown parameter "sni"`},
		{"tls://192.0.2.1?pin=" + strings.Repeat("A", 43) + "#dns.example?pin=" + strings.Repeat("A", 43), "", `server name "dns.example?pin=`},
		{"https://dns.example", "", "want https://host[:port]/path"},
		{"https://user@dns.example/dns-query", "", "want https://host[:port]"},
	}
	for _, tt := range tests {
		u, err := upstream.Parse(tt.raw, time.Second)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), tt.raw)):
			t.Errorf("Parse(%q) error %v, want %q naming the upstream", tt.raw, err, tt.err)
		case tt.err == "" && err != nil:
			t.Errorf("Parse(%q): %v", tt.raw, err)
		case tt.err == "" && u.String() != tt.want:
			t.Errorf("Parse(%q) = %s, want %s", tt.raw, u, tt.want)
		}
	}
}

func query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg).SetQuestion(name, qtype)
	m.SetEdns0(upstream.EDNSSize, false)
	return m
}

func TestExchangeRetriesTruncatedOverTCP(t *testing.T) {
	ts := testserver.ForTest(t)
	for _, raw := range []string{ts.Stamp, ts.PlainUDP(), "tcp://" + ts.PlainAddr} {
		u, err := upstream.Parse(raw, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r, err := u.Exchange(ctx, query(testserver.BigName, dns.TypeTXT))
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if r.Truncated || len(r.Answer) != 12 {
			t.Errorf("%s: truncated %v, %d records; want all 12", u, r.Truncated, len(r.Answer))
		}
	}
}

func TestExchangeHonoursContext(t *testing.T) {
	ts := testserver.ForTest(t)
	ts.SetSilent(true)
	for i, raw := range []string{ts.Stamp, ts.PlainUDP(), "tcp://" + ts.PlainAddr} {
		u, err := upstream.Parse(raw, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, err = u.Exchange(ctx, query("example.test.", dns.TypeA))
		cancel()
		if err == nil {
			t.Errorf("%s: a silent server answered", u)
		}
		// Given up on, with no deadline, the exchange ends at once
		// with the context's error, not its own timeout's.
		name := fmt.Sprintf("cancel%d.gen.test.", i)
		ctx, cancel = context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := u.Exchange(ctx, query(name, dns.TypeA))
			errc <- err
		}()
		waitUntil(t, "the query to reach "+u.String(), func() bool { return ts.Queries(name) == 1 })
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("%s: error %v, want context.Canceled", u, err)
		}
	}
}

// TestMismatchedResponseRejected points a plain upstream at a server that
// answers with the wrong id or question: nothing it says may be used.
func TestMismatchedResponseRejected(t *testing.T) {
	for _, tamper := range []func(*dns.Msg){
		func(m *dns.Msg) { m.Id++ },
		func(m *dns.Msg) { m.Question[0].Name = "other.test." },
		func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeAAAA },
	} {
		addr := tamperingServer(t, tamper)
		u := &upstream.Plain{Addr: addr, TCPOnly: true}
		_, err := u.Exchange(context.Background(), query("example.test.", dns.TypeA))
		// miekg/dns catches a wrong id itself; the rest is ours to catch.
		if !errors.Is(err, upstream.ErrMismatch) && !errors.Is(err, dns.ErrId) {
			t.Errorf("error %v, want a mismatch", err)
		}
	}
}

func tamperingServer(t *testing.T, tamper func(*dns.Msg)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: l, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg).SetReply(r)
		tamper(m)
		_ = w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return l.Addr().String()
}

func TestGroupPrefersHealthyAndFast(t *testing.T) {
	slow, fast, dead := testserver.ForTest(t), testserver.ForTest(t), testserver.ForTest(t)
	slow.SetDelay(50 * time.Millisecond)
	dead.SetSilent(true)
	var ups []upstream.Upstream
	for _, s := range []*testserver.Server{dead, slow, fast} {
		u, _ := upstream.Parse(s.PlainUDP(), time.Second)
		ups = append(ups, u)
	}
	g := upstream.NewGroup(ups, 300*time.Millisecond)
	// Every upstream gets measured once, then the fast one takes the load.
	for range 10 {
		r, _, err := g.Exchange(context.Background(), query("example.test.", dns.TypeA))
		if err != nil || len(r.Answer) != 1 {
			t.Fatalf("exchange: %v", err)
		}
	}
	if n := fast.Queries("example.test."); n < 8 {
		t.Errorf("fast upstream got %d of 10 queries (slow %d, dead %d)", n, slow.Queries("example.test."), dead.Queries("example.test."))
	}
	if n := dead.Queries("example.test."); n != 1 {
		t.Errorf("dead upstream tried %d times, want once before backing off", n)
	}
	st := g.Status()
	if !st[0].Down || st[0].Failures != 1 || st[2].Down {
		t.Errorf("status %+v", st)
	}
}

func TestGroupProbesRecoveryInBackground(t *testing.T) {
	flaky := testserver.ForTest(t)
	flaky.SetSilent(true)
	g := upstream.NewGroup([]upstream.Upstream{&upstream.Plain{Addr: flaky.PlainAddr}}, 100*time.Millisecond)
	answered := make(chan struct{}, 1)
	g.OnExchange = func(_ string, _ time.Duration, err error) {
		if err == nil {
			select {
			case answered <- struct{}{}:
			default:
			}
		}
	}
	if _, _, err := g.Exchange(context.Background(), query("example.test.", dns.TypeA)); err == nil {
		t.Fatal("a silent upstream answered")
	}
	if !g.Status()[0].Down {
		t.Fatal("failed upstream not marked down")
	}
	flaky.SetSilent(false)
	runGroup(t, g)
	select {
	case <-answered:
	case <-time.After(10 * time.Second):
		t.Fatal("no probe was answered in 10 s")
	}
	if g.Status()[0].Down {
		t.Error("upstream still down after answering a probe")
	}
	if n := flaky.Queries("."); n < 1 {
		t.Errorf("no probe reached the upstream")
	}
}

// runGroup runs g's background upkeep until the test ends.
func runGroup(t *testing.T, g *upstream.Group) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestDNSCryptFollowsKeyRotation rotates the resolver's key abruptly (no
// overlap): the query in flight at that moment fails, which the group's
// failover covers, and the background upkeep fetches the new certificate
// so that the next query succeeds, long before the routine re-check.
func TestDNSCryptFollowsKeyRotation(t *testing.T) {
	ts := testserver.ForTest(t)
	u, err := upstream.NewDNSCrypt(ts.Stamp, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// A query made with the old key is never answered, so its wait is
	// short; the others wait long enough for a loaded machine.
	ask := func(wait time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		r, err := u.Exchange(ctx, query("example.test.", dns.TypeA))
		if err == nil && len(r.Answer) != 1 {
			err = fmt.Errorf("answer %v", r.Answer)
		}
		return err
	}
	if err := ask(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := ts.RotateCert(); err != nil {
		t.Fatal(err)
	}
	if err := ask(300 * time.Millisecond); err == nil {
		t.Fatal("the old key still works: the rotation was not real")
	}
	u.Maintain(context.Background())
	for i := range 3 {
		if err := ask(5 * time.Second); err != nil {
			t.Fatalf("query %d after rotation: %v", i, err)
		}
	}
}

// DNSCrypt keeps UDP sockets between queries; one whose query timed out
// may still get the late reply, so it must not be used again.
func TestDNSCryptLateReplyDoesNotReachTheNextQuery(t *testing.T) {
	ts := testserver.ForTest(t)
	// The relay keeps the reply to the query asked while hold is set until
	// release, and closes sent once it has sent it on.
	var hold atomic.Bool
	held, release, sent := make(chan struct{}), make(chan struct{}), make(chan struct{})
	addr := relay(t, ts.CryptAddr, func(reply []byte, send func([]byte)) {
		if hold.Swap(false) {
			select {
			case held <- struct{}{}:
			case <-t.Context().Done():
				return
			}
			select {
			case <-release:
			case <-t.Context().Done():
				return
			}
			defer close(sent)
		}
		send(reply)
	})
	u := relayedDNSCrypt(t, ts, addr)
	if _, err := u.Exchange(context.Background(), query("example.test.", dns.TypeA)); err != nil {
		t.Fatal(err)
	}
	hold.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := u.Exchange(ctx, query("www.example.test.", dns.TypeA))
		errc <- err
	}()
	wait := func(c <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-c:
		case <-time.After(10 * time.Second):
			t.Fatalf("waited 10 s for %s", what)
		}
	}
	wait(held, "the relay to hold the reply")
	cancel() // the query gives up before its reply comes
	if err := <-errc; err == nil {
		t.Fatal("a query given up on succeeded")
	}
	close(release)
	wait(sent, "the late reply to be sent")
	for i := range 5 {
		name := fmt.Sprintf("n%d.gen.test.", i)
		r, err := u.Exchange(context.Background(), query(name, dns.TypeA))
		if err != nil {
			t.Fatalf("%s after a timed-out query: %v", name, err)
		}
		if len(r.Answer) != 1 || r.Answer[0].Header().Name != name {
			t.Fatalf("%s answered with %v", name, r.Answer)
		}
	}
}

// lossyServer answers over UDP like the test server but drops the first
// datagram it gets, as a congested path does.
func lossyServer(t *testing.T) string {
	t.Helper()
	var first atomic.Bool
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		if first.CompareAndSwap(false, true) {
			return
		}
		m := new(dns.Msg).SetReply(r)
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 7)}}
		_ = w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// One lost datagram to the only upstream costs a retry within the query's
// deadline, not a SERVFAIL.
func TestGroupRetriesALostDatagram(t *testing.T) {
	u, err := upstream.Parse("udp://"+lossyServer(t), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	g := upstream.NewGroup([]upstream.Upstream{u}, 300*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r, _, err := g.Exchange(ctx, query("lost.example.test.", dns.TypeA))
	if err != nil {
		t.Fatalf("a single lost datagram failed the query: %v", err)
	}
	if len(r.Answer) != 1 {
		t.Fatalf("answer %v", r.Answer)
	}
}

// relay forwards datagrams to addr one at a time and hands each reply to
// pass, which sends it, or something else, back to the asker with send.
func relay(t *testing.T, addr string, pass func(reply []byte, send func([]byte))) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); up.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_ = up.SetDeadline(time.Now().Add(time.Second))
			if _, err := up.Write(buf[:n]); err != nil {
				return
			}
			if n, err = up.Read(buf); err != nil {
				continue
			}
			pass(buf[:n], func(reply []byte) { _, _ = pc.WriteTo(reply, from) })
		}
	}()
	return pc.LocalAddr().String()
}

// relayedDNSCrypt is ts's DNSCrypt resolver reached through addr.
func relayedDNSCrypt(t *testing.T, ts *testserver.Server, addr string) upstream.Upstream {
	t.Helper()
	stamp, err := dnsstamps.NewServerStampFromString(ts.Stamp)
	if err != nil {
		t.Fatal(err)
	}
	stamp.ServerAddrStr = addr
	u, err := upstream.Parse(stamp.String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// A replayed reply decrypts with the same key; when the query repeats the
// id and the question, only the nonce shows it answers another query.
func TestDNSCryptRejectsAReplayedReply(t *testing.T) {
	ts := testserver.ForTest(t)
	// The relay answers every DNSCrypt query after the first with the
	// first one's reply, as someone on the path replaying an old answer would.
	var first []byte
	u := relayedDNSCrypt(t, ts, relay(t, ts.CryptAddr, func(reply []byte, send func([]byte)) {
		if bytes.HasPrefix(reply, []byte("r6fnvWj8")) { // the resolver magic of an encrypted reply
			if first == nil {
				first = bytes.Clone(reply)
			}
			reply = first
		}
		send(reply)
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m := query("example.test.", dns.TypeA)
	if _, err := u.Exchange(ctx, m); err != nil {
		t.Fatal(err)
	}
	if r, err := u.Exchange(ctx, m); err == nil || !strings.Contains(err.Error(), "nonce") {
		t.Fatalf("replayed reply: %v, %v; want a nonce error", r, err)
	}
}

// TestGroupLogsOutageAndRecoveryOnce checks that a silent upstream gets one
// line when it starts failing and one when it answers again, however many
// exchanges failed in between.
func TestGroupLogsOutageAndRecoveryOnce(t *testing.T) {
	ts := testserver.ForTest(t)
	ts.SetSilent(true)
	var logs bytes.Buffer
	g := upstream.NewGroup([]upstream.Upstream{&upstream.Plain{Addr: ts.PlainAddr}}, 50*time.Millisecond)
	g.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	for range 3 {
		if _, _, err := g.Exchange(context.Background(), query("example.test.", dns.TypeA)); err == nil {
			t.Fatal("a silent upstream answered")
		}
	}
	ts.SetSilent(false)
	for range 2 {
		if _, _, err := g.Exchange(context.Background(), query("example.test.", dns.TypeA)); err != nil {
			t.Fatalf("recovered upstream: %v", err)
		}
	}
	out := logs.String()
	if n := strings.Count(out, `msg="upstream failing`); n != 1 {
		t.Errorf("%d upstream failing lines, want 1:\n%s", n, out)
	}
	if n := strings.Count(out, `msg="upstream answering again" upstream=udp://`+ts.PlainAddr+` failed_exchanges=9 `); n != 1 {
		t.Errorf("want one line saying it answers again after 9 failed exchanges:\n%s", out)
	}
}

// TestGroupLogsOneOutageWhenAHungUpstreamReturns hangs an upstream with
// queries in flight, brings it back, and lets those queries fail after its
// first answer, as a hung DNSCrypt resolver's do when it returns: the log
// must still have one line saying it fails and one saying it is back, not
// a pair for every three of them.
func TestGroupLogsOneOutageWhenAHungUpstreamReturns(t *testing.T) {
	ts := testserver.ForTest(t)
	u, err := upstream.Parse(ts.Stamp, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Asked outside the group (which fetches the DNSCrypt
	// certificate), so the group has measured no latency and
	// every try waits the whole minute, ended only by the test.
	if _, err := u.Exchange(context.Background(), query("example.test.", dns.TypeA)); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	g := upstream.NewGroup([]upstream.Upstream{u}, time.Minute)
	g.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	// hung starts n queries for name, waits until the upstream
	// has them all, and returns what makes them give up.
	hung := func(name string, n int) (giveUp func()) {
		ctx, cancel := context.WithCancel(t.Context())
		errs := make(chan error, n)
		for range n {
			go func() {
				_, _, err := g.Exchange(ctx, query(name, dns.TypeA))
				errs <- err
			}()
		}
		waitUntil(t, fmt.Sprintf("%d queries for %s to reach the upstream", n, name), func() bool { return ts.Queries(name) >= n })
		return func() {
			cancel()
			for range n {
				if err := <-errs; err == nil {
					t.Errorf("%s: a hung upstream answered", name)
				}
			}
		}
	}
	answer := func(name string) {
		t.Helper()
		if _, _, err := g.Exchange(context.Background(), query(name, dns.TypeA)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	ts.SetSilent(true)
	hung("failed.gen.test.", 3)() // reported failing
	late := hung("late.gen.test.", 3)
	ts.SetSilent(false)
	answer("back.gen.test.") // reported answering again
	late()                   // sent before that answer: not an outage
	answer("after.gen.test.")
	out := logs.String()
	failing, back := strings.Count(out, `msg="upstream failing`), strings.Count(out, `msg="upstream answering again"`)
	if failing != 1 || back != 1 {
		t.Errorf("%d failing and %d answering again lines, want 1 of each:\n%s", failing, back, out)
	}
}

// waitUntil polls cond until it holds, and fails the test after 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
	}
}

// TestGroupFailsAtOnceWhileAllDown takes every upstream down: once each has
// failed and a background probe has confirmed it, a query fails at once,
// asking none of them, with an error naming each, and the probes notice
// when they answer again.
func TestGroupFailsAtOnceWhileAllDown(t *testing.T) {
	a, b := testserver.ForTest(t), testserver.ForTest(t)
	var ups []upstream.Upstream
	for _, raw := range []string{a.PlainUDP(), b.Stamp} {
		u, err := upstream.Parse(raw, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, u)
	}
	a.SetSilent(true)
	b.SetSilent(true)
	g := upstream.NewGroup(ups, 100*time.Millisecond)
	runGroup(t, g)
	var err error
	for i := 0; !errors.Is(err, upstream.ErrAllDown); i++ {
		if i == 20 {
			t.Fatalf("after %d failed queries: %v; want the upstreams known down", i, err)
		}
		if _, _, err = g.Exchange(context.Background(), query(fmt.Sprintf("slow%d.gen.test.", i), dns.TypeA)); err == nil {
			t.Fatal("a silent upstream answered")
		}
	}
	const name = "fast.gen.test."
	_, _, err = g.Exchange(context.Background(), query(name, dns.TypeA))
	if !errors.Is(err, upstream.ErrAllDown) {
		t.Fatalf("error %v, want ErrAllDown", err)
	}
	for _, u := range ups {
		if !strings.Contains(err.Error(), u.String()) {
			t.Errorf("error %q does not name %s", err, u)
		}
	}
	if n := a.Queries(name) + b.Queries(name); n != 0 {
		t.Errorf("upstreams known down were asked %d times", n)
	}
	a.SetSilent(false)
	b.SetSilent(false)
	waitUntil(t, "the probes to find the upstreams back", func() bool {
		_, _, err := g.Exchange(context.Background(), query("back.gen.test.", dns.TypeA))
		return err == nil
	})
}

// TestGroupErrorNamesEveryUpstream gives up on a query while the first
// upstream has it: the error must name the second too, never asked.
func TestGroupErrorNamesEveryUpstream(t *testing.T) {
	a, b := testserver.ForTest(t), testserver.ForTest(t)
	a.SetSilent(true)
	ups := []upstream.Upstream{&upstream.Plain{Addr: a.PlainAddr}, &upstream.Plain{Addr: b.PlainAddr}}
	g := upstream.NewGroup(ups, time.Minute)
	const name = "named.gen.test."
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, _, err := g.Exchange(ctx, query(name, dns.TypeA))
		errc <- err
	}()
	waitUntil(t, "the query to reach the first upstream", func() bool { return a.Queries(name) == 1 })
	cancel()
	err := <-errc
	if err == nil {
		t.Fatal("a silent upstream answered")
	}
	for _, u := range ups {
		if !strings.Contains(err.Error(), u.String()) {
			t.Errorf("error %q does not name %s", err, u)
		}
	}
}
