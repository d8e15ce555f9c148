package resolver_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dnsward/dnsward/lan"
	"github.com/dnsward/dnsward/resolver"
	"github.com/dnsward/dnsward/testserver"
	"github.com/miekg/dns"
)

// recordedSets is a resolver.SetFeeder that keeps the adds it is given;
// the real one (nftset.Feeder) needs root and is tested with the engine.
type recordedSets struct {
	domains []string // lowercased FQDNs covered with their subdomains
	// entered, when set, is told of each add as it starts; hold, when
	// set, makes the adds for holdName, spelled so, wait until it is closed.
	entered  chan string
	hold     chan struct{}
	holdName string
	err      error

	mu   sync.Mutex
	adds []string // "name addr,addr ttl"
}

func (r *recordedSets) Covers(name string) bool {
	name = strings.ToLower(name)
	return slices.ContainsFunc(r.domains, func(d string) bool { return name == d || strings.HasSuffix(name, "."+d) })
}

func (r *recordedSets) Add(ctx context.Context, name string, addrs []netip.Addr, ttl time.Duration) error {
	if r.entered != nil {
		r.entered <- name
	}
	if r.hold != nil && name == r.holdName {
		<-r.hold
	}
	var s []string
	for _, a := range addrs {
		s = append(s, a.String())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.adds = append(r.adds, fmt.Sprintf("%s %s %v", name, strings.Join(s, ","), ttl))
	return r.err
}

func (r *recordedSets) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.adds)
}

// take returns the adds since the last take.
func (r *recordedSets) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.adds
	r.adds = nil
	return out
}

// TestSetFeed: the addresses answered for a covered name, from upstream or
// the cache, are added with the TTL the client is given, and the add has
// ended before the answer is sent (the server's Done comes before the
// write); uncovered, blocked, local and negative answers add nothing.
func TestSetFeed(t *testing.T) {
	ts := testserver.ForTest(t)
	clock := newFakeClock()
	names, err := lan.Load(lan.Config{Domain: "lan", TTL: time.Minute, Records: []string{"router.lan. 300 IN A 192.168.1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	var ptr atomic.Pointer[lan.Names]
	ptr.Store(names)
	sets := &recordedSets{domains: []string{"example.test.", "lan."}}
	// The adds done when the server was told of each answer, which is
	// before it sends it.
	addsAtDone := make(chan int, 100)
	e := startEnv(t, envOptions{
		upstreams: []string{ts.PlainUDP()},
		cache:     resolver.CacheConfig{Size: 1000, MaxTTL: 24 * time.Hour, NegativeMaxTTL: time.Hour, Now: clock.Now},
		tune: func(c *resolver.Config) {
			c.SetFeed, c.LAN, c.LocalDomains = sets, &ptr, []string{"lan"}
			c.Blocklist = blocklist(t, "mail.example.test")
			c.BlockResponse = resolver.BlockResponse{Mode: resolver.BlockIP, IPv4: []byte{192, 0, 2, 99}, TTL: time.Minute}
		},
		done: func(*resolver.Query, *dns.Msg) { addsAtDone <- sets.count() },
	})
	tests := []struct {
		name    string
		qtype   uint16
		network string
		advance time.Duration // the cache's clock moves on by this first
		source  string
		adds    []string
	}{
		{"example.test.", dns.TypeA, "udp", 0, "upstream", []string{"example.test. 192.0.2.1 5m0s"}},
		{"Example.TEST.", dns.TypeAAAA, "tcp", 0, "upstream", []string{"Example.TEST. 2001:db8::1 5m0s"}},
		{"example.test.", dns.TypeA, "udp", 100 * time.Second, "cache", []string{"example.test. 192.0.2.1 3m20s"}},
		{"example.test.", dns.TypeA, "tcp", 0, "cache", []string{"example.test. 192.0.2.1 3m20s"}},
		// Through the chain www -> web -> example.test, added for the name asked.
		{"www.example.test.", dns.TypeA, "udp", 0, "upstream", []string{"www.example.test. 192.0.2.1 5m0s"}},
		{"two.example.test.", dns.TypeA, "udp", 0, "upstream", []string{"two.example.test. 192.0.2.1,192.0.2.2 5m0s"}},
		{"mail.example.test.", dns.TypeA, "udp", 0, "blocked", nil},
		{"nosuch.example.test.", dns.TypeA, "udp", 0, "upstream", nil},
		{"example.test.", dns.TypeMX, "udp", 0, "upstream", nil},
		{"router.lan.", dns.TypeA, "udp", 0, "local", nil},
		{"edge.cdn.test.", dns.TypeA, "udp", 0, "upstream", nil},
	}
	for _, tt := range tests {
		clock.Advance(tt.advance)
		before := sets.count()
		r := e.ask(t, tt.network, tt.name, tt.qtype, false)
		q := e.lastSource(t)
		atDone := <-addsAtDone
		got := sets.take()
		if q.Source.String() != tt.source || !slices.Equal(got, tt.adds) {
			t.Errorf("%s %s over %s: source %s, adds %q; want %s, %q", tt.name, dns.TypeToString[tt.qtype], tt.network, q.Source, got, tt.source, tt.adds)
		}
		if atDone-before != len(tt.adds) {
			t.Errorf("%s: %d adds done when the answer was sent, want %d", tt.name, atDone-before, len(tt.adds))
		}
		if tt.source != "blocked" && tt.qtype != dns.TypeMX && len(tt.adds) > 0 && len(r.Answer) == 0 {
			t.Errorf("%s: no answer", tt.name)
		}
	}
}

// TestSetFeedNeverDropsTheAnswer: a failing add still lets the answer go
// out, and while the add for a cache hit is slow the UDP reader, which
// answers cache hits itself, goes on answering others.
func TestSetFeedNeverDropsTheAnswer(t *testing.T) {
	ts := testserver.ForTest(t)
	sets := &recordedSets{domains: []string{"example.test."}, entered: make(chan string, 10), hold: make(chan struct{}),
		holdName: "MAIL.example.test.", err: errors.New("nftset: add still pending after the wait")}
	e := startEnv(t, envOptions{upstreams: []string{ts.PlainUDP()}, tune: func(c *resolver.Config) { c.SetFeed = sets }})
	e.ask(t, "udp", "mail.example.test.", dns.TypeA, false) // cached, and its add not held
	<-sets.entered

	type result struct {
		r   *dns.Msg
		err error
	}
	held := make(chan result, 1)
	go func() {
		r, err := e.exchange("udp", "MAIL.example.test.", dns.TypeA, false)
		held <- result{r, err}
	}()
	select {
	case name := <-sets.entered:
		if name != "MAIL.example.test." {
			t.Fatalf("add for %s, want MAIL.example.test.", name)
		}
	case res := <-held:
		t.Fatalf("MAIL.example.test. answered without an add: %v, %v", res.r, res.err)
	}
	// The add is held: a name no set covers is answered meanwhile, twice
	// (upstream, then cache, which the reader answers itself).
	for range 2 {
		if r := e.ask(t, "udp", "edge.cdn.test.", dns.TypeA, false); len(r.Answer) != 1 {
			t.Fatalf("edge.cdn.test. while an add is held: %v", r)
		}
	}
	close(sets.hold)
	res := <-held
	if res.err != nil || len(res.r.Answer) != 1 || res.r.Answer[0].(*dns.A).A.String() != "192.0.2.25" {
		t.Fatalf("MAIL.example.test. after a failed add: %v, %v", res.r, res.err)
	}
	// Held or not, an add that fails changes nothing for the client.
	if r := e.ask(t, "tcp", "mail.example.test.", dns.TypeA, false); len(r.Answer) != 1 {
		t.Fatalf("mail.example.test. from the cache after a failed add: %v", r)
	}
	if got := sets.take(); len(got) != 3 {
		t.Errorf("adds %q, want three of mail.example.test.", got)
	}
}
