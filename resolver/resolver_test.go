package resolver_test

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dnsward/dnsward/resolver"
	"github.com/dnsward/dnsward/testserver"
	"github.com/miekg/dns"
)

func TestForwardThroughDNSCrypt(t *testing.T) {
	ts := testserver.ForTest(t)
	e := startEnv(t, envOptions{upstreams: []string{ts.Stamp}})
	tests := []struct {
		name   string
		qtype  uint16
		rcode  int
		answer []string
	}{
		{"example.test.", dns.TypeA, dns.RcodeSuccess, []string{"192.0.2.1"}},
		{"Example.TEST.", dns.TypeAAAA, dns.RcodeSuccess, []string{"2001:db8::1"}},
		{"www.example.test.", dns.TypeA, dns.RcodeSuccess, []string{"web.example.test.", "example.test.", "192.0.2.1"}},
		{"two.example.test.", dns.TypeA, dns.RcodeSuccess, []string{"192.0.2.1", "192.0.2.2"}},
		{"nosuch.example.test.", dns.TypeA, dns.RcodeNameError, nil},
		{"example.test.", dns.TypeMX, dns.RcodeSuccess, nil},
	}
	for _, tt := range tests {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(tt.name+dns.TypeToString[tt.qtype]+network, func(t *testing.T) {
				r := e.ask(t, network, tt.name, tt.qtype, true)
				if r.Rcode != tt.rcode {
					t.Fatalf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
				}
				if r.Question[0].Name != tt.name {
					t.Errorf("question echoed as %q, want %q", r.Question[0].Name, tt.name)
				}
				if !r.RecursionAvailable || r.IsEdns0() == nil {
					t.Errorf("RA %v, EDNS %v: want both", r.RecursionAvailable, r.IsEdns0() != nil)
				}
				if got := rdata(r.Answer); strings.Join(got, " ") != strings.Join(tt.answer, " ") {
					t.Errorf("answer %v, want %v", got, tt.answer)
				}
			})
		}
	}
	q := e.lastSource(t)
	if q.Source.String() != "upstream" || !strings.HasPrefix(q.Upstream, "dnscrypt://") {
		t.Errorf("first answer from %s %s, want upstream dnscrypt://", q.Source, q.Upstream)
	}
}

func rdata(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		out = append(out, strings.TrimPrefix(rr.String(), rr.Header().String()))
	}
	return out
}

func TestCacheCountsTTLDown(t *testing.T) {
	ts := testserver.ForTest(t)
	clock := newFakeClock()
	e := startEnv(t, envOptions{upstreams: []string{ts.Stamp},
		cache: resolver.CacheConfig{Size: 1000, MaxTTL: 24 * time.Hour, NegativeMaxTTL: time.Hour, Now: clock.Now}})
	first := e.ask(t, "udp", "mail.example.test.", dns.TypeA, false)
	clock.Advance(1100 * time.Millisecond)
	second := e.ask(t, "udp", "MAIL.example.test.", dns.TypeA, false)
	if n := ts.Queries("mail.example.test."); n != 1 {
		t.Fatalf("upstream saw %d queries, want 1", n)
	}
	if len(second.Answer) != 1 || second.Answer[0].Header().Ttl >= first.Answer[0].Header().Ttl {
		t.Fatalf("cached TTL %v not below first %v", second.Answer, first.Answer)
	}
	if second.Question[0].Name != "MAIL.example.test." {
		t.Errorf("question echoed as %q", second.Question[0].Name)
	}
	e.lastSource(t)
	if q := e.lastSource(t); q.Source.String() != "cache" {
		t.Errorf("second answer from %q, want cache", q.Source)
	}
	if st := e.Pipeline.Cache.Stats(); st.Hits != 1 || st.Misses != 1 {
		t.Errorf("hits %d misses %d, want 1 and 1", st.Hits, st.Misses)
	}
}

func TestNegativeCaching(t *testing.T) {
	ts := testserver.ForTest(t)
	e := startEnv(t, envOptions{upstreams: []string{ts.PlainUDP()}})
	for _, tt := range []struct {
		name  string
		qtype uint16
		rcode int
	}{
		{"gone.example.test.", dns.TypeA, dns.RcodeNameError},
		{"mail.example.test.", dns.TypeTXT, dns.RcodeSuccess},
	} {
		for range 3 {
			r := e.ask(t, "udp", tt.name, tt.qtype, false)
			if r.Rcode != tt.rcode || len(r.Answer) != 0 {
				t.Fatalf("%s: rcode %s with %d answers", tt.name, dns.RcodeToString[r.Rcode], len(r.Answer))
			}
			if len(r.Ns) != 1 || r.Ns[0].Header().Ttl > testserver.SOAMinimum {
				t.Fatalf("%s: authority %v, want the SOA with TTL <= %d", tt.name, r.Ns, testserver.SOAMinimum)
			}
		}
		if n := ts.Queries(tt.name); n != 1 {
			t.Errorf("%s: upstream saw %d queries, want 1", tt.name, n)
		}
	}
}

func TestServfailIsNotCached(t *testing.T) {
	ts := testserver.ForTest(t)
	e := startEnv(t, envOptions{upstreams: []string{ts.PlainUDP()}})
	ts.SetSilent(true)
	if r := e.ask(t, "udp", "mail.example.test.", dns.TypeA, false); r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("rcode %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
	ts.SetSilent(false)
	if r := e.ask(t, "udp", "mail.example.test.", dns.TypeA, false); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("after recovery rcode %s, want NOERROR", dns.RcodeToString[r.Rcode])
	}
}

func TestTruncation(t *testing.T) {
	ts := testserver.ForTest(t)
	e := startEnv(t, envOptions{upstreams: []string{ts.Stamp}})
	udp := e.ask(t, "udp", testserver.BigName, dns.TypeTXT, false)
	if !udp.Truncated {
		t.Fatalf("UDP answer of %d records not truncated", len(udp.Answer))
	}
	udp.Compress = true
	if n := udp.Len(); n > dns.MinMsgSize {
		t.Fatalf("UDP answer is %d bytes, over %d", n, dns.MinMsgSize)
	}
	tcp := e.ask(t, "tcp", testserver.BigName, dns.TypeTXT, false)
	if tcp.Truncated || len(tcp.Answer) != 12 {
		t.Fatalf("TCP answer: truncated %v with %d records, want 12 whole", tcp.Truncated, len(tcp.Answer))
	}
}

func TestFailover(t *testing.T) {
	dead := testserver.ForTest(t)
	alive := testserver.ForTest(t)
	dead.SetSilent(true)
	e := startEnv(t, envOptions{upstreams: []string{dead.Stamp, alive.Stamp}})
	start := time.Now()
	r := e.ask(t, "udp", "example.test.", dns.TypeA, false)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("rcode %s, %d answers", dns.RcodeToString[r.Rcode], len(r.Answer))
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("failover took %v", took)
	}
	if q := e.lastSource(t); q.Upstream == "" || !strings.Contains(q.Upstream, alive.CryptAddr) {
		t.Errorf("answered by %q, want %s", q.Upstream, alive.CryptAddr)
	}
	// The dead upstream is now ranked last: the next query goes straight
	// to the live one.
	e.ask(t, "udp", "mail.example.test.", dns.TypeA, false)
	if n := dead.Queries("mail.example.test."); n != 0 {
		t.Errorf("dead upstream asked %d times after failing", n)
	}
}

func TestAllUpstreamsDownGiveServfail(t *testing.T) {
	a, b := testserver.ForTest(t), testserver.ForTest(t)
	a.SetSilent(true)
	b.SetSilent(true)
	e := startEnv(t, envOptions{upstreams: []string{a.PlainUDP(), b.Stamp}})
	r := e.ask(t, "udp", "example.test.", dns.TypeA, false)
	if r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("rcode %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
	// The log must say where the failure came from.
	if q := e.lastSource(t); q.Source.String() != "upstream" {
		t.Errorf("SERVFAIL logged with source %q, want upstream", q.Source)
	}
}

func TestCoalescing(t *testing.T) {
	ts := testserver.ForTest(t)
	ts.SetDelay(300 * time.Millisecond)
	e := startEnv(t, envOptions{upstreams: []string{ts.Stamp}})
	const clients = 40
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			r, err := e.exchange("udp", "mail.example.test.", dns.TypeA, false)
			if err != nil {
				t.Error(err)
			} else if len(r.Answer) != 1 {
				t.Errorf("answer %v", r.Answer)
			}
		})
	}
	wg.Wait()
	if n := ts.Queries("mail.example.test."); n != 1 {
		t.Fatalf("%d concurrent queries cost %d upstream queries, want 1", clients, n)
	}
}

func TestAccessControl(t *testing.T) {
	ts := testserver.ForTest(t)
	for _, tt := range []struct {
		allowed []string
		rcode   int
	}{
		{[]string{"10.0.0.0/8", "192.168.0.0/16"}, dns.RcodeRefused},
		{[]string{"127.0.0.1/32"}, dns.RcodeSuccess},
	} {
		e := startEnv(t, envOptions{upstreams: []string{ts.PlainUDP()}, allowed: tt.allowed})
		r := e.ask(t, "udp", "example.test.", dns.TypeA, false)
		if r.Rcode != tt.rcode {
			t.Errorf("allowed %v: rcode %s, want %s", tt.allowed, dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
		}
	}
	if n := ts.Queries("example.test."); n != 1 {
		t.Errorf("refused client's query reached upstream: %d queries", n)
	}
}

func TestMalformedPacketsDoNotDisturbOthers(t *testing.T) {
	ts := testserver.ForTest(t)
	e := startEnv(t, envOptions{upstreams: []string{ts.PlainUDP()}})
	conn, err := net.Dial("udp", e.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	twoQuestions := new(dns.Msg).SetQuestion("example.test.", dns.TypeA)
	twoQuestions.Question = append(twoQuestions.Question, twoQuestions.Question[0])
	packed, _ := twoQuestions.Pack()
	// A query padded past the largest query read is cut short, and must
	// not be answered from its first 4,096 bytes.
	oversized, _ := new(dns.Msg).SetQuestion("example.test.", dns.TypeA).Pack()
	oversized = append(oversized, make([]byte, 5000)...)
	for _, junk := range [][]byte{{0x00}, []byte("not dns at all, just bytes"), packed, make([]byte, 600), oversized} {
		if _, err := conn.Write(junk); err != nil {
			t.Fatal(err)
		}
		r := e.ask(t, "udp", "example.test.", dns.TypeA, false)
		if r.Rcode != dns.RcodeSuccess {
			t.Fatalf("after junk %q: rcode %s", junk, dns.RcodeToString[r.Rcode])
		}
	}
	// Each malformed message is dropped or refused with an error rcode;
	// none is answered as if it were a query.
	var rcodes []string
	buf := make([]byte, 512)
	for {
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			break
		}
		var r dns.Msg
		if err := r.Unpack(buf[:n]); err != nil {
			t.Fatalf("unparsable reply to junk: %v", err)
		}
		rcodes = append(rcodes, dns.RcodeToString[r.Rcode])
	}
	if !slices.Contains(rcodes, "FORMERR") || slices.Contains(rcodes, "NOERROR") {
		t.Fatalf("replies to junk: %v, want FORMERR among them and no NOERROR", rcodes)
	}
}

func TestDig(t *testing.T) {
	dig, err := exec.LookPath("dig")
	if err != nil {
		t.Skip("dig not installed")
	}
	ts := testserver.ForTest(t)
	e := startEnv(t, envOptions{upstreams: []string{ts.Stamp}})
	host, port, _ := net.SplitHostPort(e.Addr)
	for _, proto := range []string{"+notcp", "+tcp"} {
		out, err := exec.Command(dig, "@"+host, "-p", port, proto, "+short", "www.example.test", "A").CombinedOutput()
		if err != nil {
			t.Fatalf("dig %s: %v\n%s", proto, err, out)
		}
		if got := strings.Fields(string(out)); len(got) != 3 || got[2] != "192.0.2.1" {
			t.Errorf("dig %s: %q", proto, out)
		}
	}
}

func TestServeStale(t *testing.T) {
	ts := testserver.ForTest(t)
	for _, window := range []time.Duration{time.Hour, 0} {
		clock := newFakeClock()
		e := startEnv(t, envOptions{upstreams: []string{ts.PlainUDP()}, cache: resolver.CacheConfig{
			Size: 100, MaxTTL: time.Hour, NegativeMaxTTL: time.Hour, ServeStale: window, Now: clock.Now,
		}})
		if r := e.ask(t, "udp", "short.example.test.", dns.TypeA, false); len(r.Answer) != 1 {
			t.Fatalf("first answer %v", r.Answer)
		}
		clock.Advance(2100 * time.Millisecond) // the record's TTL is 2s
		ts.SetSilent(true)
		r := e.ask(t, "udp", "short.example.test.", dns.TypeA, false)
		ts.SetSilent(false)
		if window == 0 {
			if r.Rcode != dns.RcodeServerFailure {
				t.Errorf("without serve-stale: rcode %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
			}
			continue
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].Header().Ttl != 30 {
			t.Fatalf("stale answer: rcode %s %v, want the old record with TTL 30", dns.RcodeToString[r.Rcode], r.Answer)
		}
		e.lastSource(t)
		if q := e.lastSource(t); q.Source.String() != "stale" {
			t.Errorf("source %q, want stale", q.Source)
		}
	}
}

// TestTCPClientThatStopsReading checks that a TCP client which sends a
// query and never reads the answer does not keep the server from shutting
// down. The client's end is a net.Pipe, which buffers nothing: over real
// loopback TCP the kernel's send buffer (up to 4 MB) takes many thousands of
// answers, so the server's write would not block for long.
func TestTCPClientThatStopsReading(t *testing.T) {
	ts := testserver.ForTest(t)
	p, err := resolver.NewPipeline(resolver.Config{
		Allowed: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, Upstreams: parseUpstreams(t, ts.Stamp),
		Attempt: time.Second, Timeout: 2 * time.Second, Cache: resolver.CacheConfig{Size: 10},
	})
	if err != nil {
		t.Fatal(err)
	}
	l := &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
	srv := &resolver.Server{Pipeline: p, Logger: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, &resolver.Listeners{TCP: []net.Listener{l}}) }()

	client, server := net.Pipe()
	defer client.Close()
	writing := make(chan struct{})
	l.conns <- &writeNotifyingConn{Conn: server, writing: writing}
	query, err := new(dns.Msg).SetQuestion("example.test.", dns.TypeA).Pack()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Write(append([]byte{byte(len(query) >> 8), byte(len(query))}, query...)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-writing: // the server is now blocked writing the answer
	case <-time.After(10 * time.Second):
		t.Fatal("the server never wrote an answer")
	}
	cancel()
	waitStopped(t, done, 15*time.Second)
}

// writeNotifyingConn closes writing when the server first writes to it.
type writeNotifyingConn struct {
	net.Conn
	writing chan struct{}
	once    sync.Once
}

func (c *writeNotifyingConn) Write(b []byte) (int, error) {
	c.once.Do(func() { close(c.writing) })
	return c.Conn.Write(b)
}

// pipeListener hands out the server ends of net.Pipe connections.
type pipeListener struct {
	conns     chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }

func TestTCPConnectionLimits(t *testing.T) {
	addr := serveTCP(t, tcpPipeline(t, "127.0.0.0/8"), resolver.Limits{TCPPerClient: 2})
	var conns []*dns.Conn
	for range 3 {
		c, err := dns.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	for i, c := range conns {
		c.SetDeadline(time.Now().Add(2 * time.Second))
		err := c.WriteMsg(new(dns.Msg).SetQuestion("example.test.", dns.TypeA))
		var r *dns.Msg
		if err == nil {
			r, err = c.ReadMsg()
		}
		if i < 2 && (err != nil || r.Rcode != dns.RcodeSuccess) {
			t.Errorf("connection %d within the limit: %v", i, err)
		}
		if i == 2 && err == nil {
			t.Errorf("connection %d over the limit was answered", i)
		}
	}
	// Closing one frees its place, once the server has seen it close:
	// until then a new connection is refused, so try until one is
	// answered.
	conns[0].Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := askOnce(addr)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("new connection after one closed: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // polling, not waiting for time to pass
	}
}

// askOnce asks one question on a new TCP connection to addr.
func askOnce(addr string) error {
	c, err := dns.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if err := c.WriteMsg(new(dns.Msg).SetQuestion("example.test.", dns.TypeA)); err != nil {
		return err
	}
	_, err = c.ReadMsg()
	return err
}

// A socket bound to every address must answer from the address each query
// was sent to: clients, connected sockets among them, drop replies from
// any other.
func TestWildcardListenerRepliesFromQueriedAddress(t *testing.T) {
	ts := testserver.ForTest(t)
	for _, tt := range []struct {
		listen string
		hosts  []string
	}{
		{"0.0.0.0:0", []string{"127.0.0.1", "127.0.0.2"}},
		// Dual-stack: IPv4 clients arrive as ::ffff:127.0.0.1.
		{"[::]:0", []string{"127.0.0.1", "127.0.0.2", "::1"}},
	} {
		e := startEnv(t, envOptions{upstreams: []string{ts.PlainUDP()}, listen: tt.listen})
		_, port, _ := net.SplitHostPort(e.Addr)
		for _, host := range tt.hosts {
			for range 2 { // an upstream answer, then a cached one
				conn, err := net.Dial("udp", net.JoinHostPort(host, port))
				if err != nil {
					t.Fatal(err)
				}
				c := &dns.Client{Timeout: 2 * time.Second}
				r, _, err := c.ExchangeWithConn(new(dns.Msg).SetQuestion("example.test.", dns.TypeA), &dns.Conn{Conn: conn})
				conn.Close()
				if err != nil {
					t.Fatalf("%s: query to %s: %v", tt.listen, host, err)
				}
				if len(r.Answer) == 0 {
					t.Fatalf("%s: query to %s: no answer: %v", tt.listen, host, r)
				}
				// The log names the client by the address and port it
				// sent from.
				client := e.lastSource(t).Client
				if want := conn.LocalAddr().(*net.UDPAddr).AddrPort(); client.Addr().Unmap() != want.Addr() || client.Port() != want.Port() {
					t.Fatalf("%s: query from %s recorded as from %s", tt.listen, want, client)
				}
			}
		}
	}
}

// A name asked for often is refreshed before it expires, so the client
// asking after the first answer's expiry still gets a cache hit.
func TestPrefetchKeepsPopularNamesCached(t *testing.T) {
	ts := testserver.ForTest(t)
	const ttl = 4 * time.Second
	clock := newFakeClock()
	e := startEnv(t, envOptions{upstreams: []string{ts.PlainUDP()},
		cache: resolver.CacheConfig{Size: 100, MaxTTL: ttl, NegativeMaxTTL: ttl, Prefetch: true, Now: clock.Now}})
	for range 3 {
		e.ask(t, "udp", "mail.example.test.", dns.TypeA, false)
	}
	// Within the last tenth of the TTL: this hit queues the refresh.
	clock.Advance(ttl * 93 / 100)
	e.ask(t, "udp", "mail.example.test.", dns.TypeA, false)
	// The refresh runs in the background: wait for it to be stored,
	// which is when the cache counts it.
	deadline := time.Now().Add(10 * time.Second)
	for e.Pipeline.Cache.Stats().Prefetched < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := ts.Queries("mail.example.test."); n != 2 {
		t.Fatalf("upstream saw %d queries, want 2: the first and the prefetch", n)
	}
	// Past the first answer's expiry, within the refreshed one's.
	clock.Advance(ttl*7/100 + 300*time.Millisecond)
	r := e.ask(t, "udp", "mail.example.test.", dns.TypeA, false)
	if n := ts.Queries("mail.example.test."); n != 2 || len(r.Answer) != 1 {
		t.Fatalf("after expiry: upstream saw %d queries (want 2), answer %v", n, r.Answer)
	}
	if st := e.Pipeline.Cache.Stats(); st.Prefetched != 1 || st.Misses != 1 {
		t.Errorf("cache stats %+v, want 1 prefetch and 1 miss", st)
	}
}
