package resolver_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dnsward/dnsward/blocklists"
	"github.com/dnsward/dnsward/lan"
	"github.com/dnsward/dnsward/querylog"
	"github.com/dnsward/dnsward/resolver"
	"github.com/dnsward/dnsward/testserver"
	"github.com/dnsward/dnsward/upstream"
	"github.com/miekg/dns"
)

func blocklist(t *testing.T, rules ...string) *blocklists.Manager {
	t.Helper()
	m, err := blocklists.New(blocklists.Config{Inline: rules}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBlocking(t *testing.T) {
	ts := testserver.ForTest(t)
	lists := blocklist(t, "teredo.ipv6.microsoft.com", "ads.test", "@@||ok.ads.test^")
	tests := []struct {
		response resolver.BlockResponse
		name     string
		qtype    uint16
		rcode    int
		answer   []string
		source   string
	}{
		{resolver.BlockResponse{Mode: resolver.BlockNXDomain, TTL: time.Minute}, "teredo.ipv6.microsoft.com.", dns.TypeA, dns.RcodeNameError, nil, "blocked"},
		{resolver.BlockResponse{Mode: resolver.BlockNXDomain, TTL: time.Minute}, "x.Teredo.ipv6.microsoft.com.", dns.TypeAAAA, dns.RcodeNameError, nil, "blocked"},
		{resolver.BlockResponse{Mode: resolver.BlockNull, TTL: time.Minute}, "teredo.ipv6.microsoft.com.", dns.TypeA, dns.RcodeSuccess, []string{"0.0.0.0"}, "blocked"},
		{resolver.BlockResponse{Mode: resolver.BlockNull, TTL: time.Minute}, "teredo.ipv6.microsoft.com.", dns.TypeAAAA, dns.RcodeSuccess, []string{"::"}, "blocked"},
		{resolver.BlockResponse{Mode: resolver.BlockRefused, TTL: time.Minute}, "teredo.ipv6.microsoft.com.", dns.TypeA, dns.RcodeRefused, nil, "blocked"},
		{resolver.BlockResponse{Mode: resolver.BlockIP, IPv4: net.ParseIP("192.0.2.99"), TTL: time.Minute}, "teredo.ipv6.microsoft.com.", dns.TypeA, dns.RcodeSuccess, []string{"192.0.2.99"}, "blocked"},
		// CNAME cloaking: the question is clean, its chain is not.
		{resolver.BlockResponse{Mode: resolver.BlockNXDomain, TTL: time.Minute}, "cloaked.example.test.", dns.TypeA, dns.RcodeNameError, nil, "blocked"},
		// The allowlist beats the blocklist.
		{resolver.BlockResponse{Mode: resolver.BlockNXDomain, TTL: time.Minute}, "ok.ads.test.", dns.TypeA, dns.RcodeNameError, nil, "upstream"},
		{resolver.BlockResponse{Mode: resolver.BlockNXDomain, TTL: time.Minute}, "example.test.", dns.TypeA, dns.RcodeSuccess, []string{"192.0.2.1"}, "upstream"},
	}
	for _, tt := range tests {
		e := startEnv(t, envOptions{upstreams: []string{ts.PlainUDP()}, tune: func(c *resolver.Config) {
			c.Blocklist, c.BlockResponse = lists, tt.response
		}})
		r := e.ask(t, "udp", tt.name, tt.qtype, false)
		q := e.lastSource(t)
		if r.Rcode != tt.rcode || q.Source.String() != tt.source || strings.Join(rdata(r.Answer), " ") != strings.Join(tt.answer, " ") {
			t.Errorf("%s %s (%s): rcode %s answer %v source %s; want %s %v %s", tt.name, dns.TypeToString[tt.qtype], tt.response.Mode,
				dns.RcodeToString[r.Rcode], rdata(r.Answer), q.Source, dns.RcodeToString[tt.rcode], tt.answer, tt.source)
		}
		if tt.source == "blocked" && (q.BlockList != "config" || q.BlockRule == "") {
			t.Errorf("%s: blocked by list %q rule %q", tt.name, q.BlockList, q.BlockRule)
		}
	}
	if n := ts.Queries("teredo.ipv6.microsoft.com."); n != 0 {
		t.Errorf("a blocked name reached upstream %d times", n)
	}
}

// A group's lists block for the group's clients only, and never a name the
// lists for everyone allow.
func TestBlockGroups(t *testing.T) {
	ts := testserver.ForTest(t)
	e := startEnv(t, envOptions{upstreams: []string{ts.PlainUDP()}, tune: func(c *resolver.Config) {
		c.Blocklist = blocklist(t, "ads.test", "@@||www.example.test^")
		c.BlockResponse = resolver.BlockResponse{Mode: resolver.BlockNXDomain, TTL: time.Minute}
		c.BlockGroups = []resolver.BlockGroup{{
			Name: "kids", Clients: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")},
			Lists: blocklist(t, "mail.example.test", "www.example.test", "tracker.ads.test", "edge.cdn.test"),
		}}
	}})
	ask := func(from, name string) (int, *resolver.Query) {
		t.Helper()
		c := &dns.Client{Timeout: 5 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(from)}}}
		r, _, err := c.Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), e.Addr)
		if err != nil {
			t.Fatalf("%s from %s: %v", name, from, err)
		}
		return r.Rcode, e.lastSource(t)
	}
	tests := []struct {
		from, name string
		rcode      int
		list       string
	}{
		{"127.0.0.2", "mail.example.test.", dns.RcodeNameError, "kids/config"},
		{"127.0.0.1", "mail.example.test.", dns.RcodeSuccess, ""},
		// Asked again, now from the cache: still blocked for the group only.
		{"127.0.0.2", "mail.example.test.", dns.RcodeNameError, "kids/config"},
		// The lists for everyone allow it: no group can block it.
		{"127.0.0.2", "www.example.test.", dns.RcodeSuccess, ""},
		// Blocked for everyone: the group's own rule is not the one reported.
		{"127.0.0.2", "tracker.ads.test.", dns.RcodeNameError, "config"},
		// CNAME cloaking through a group's name.
		{"127.0.0.2", "c1.shared.test.", dns.RcodeNameError, "kids/config"},
		{"127.0.0.1", "c1.shared.test.", dns.RcodeSuccess, ""},
	}
	for _, tt := range tests {
		rcode, q := ask(tt.from, tt.name)
		if rcode != tt.rcode || q.BlockList != tt.list {
			t.Errorf("%s from %s: %s, list %q; want %s, list %q", tt.name, tt.from,
				dns.RcodeToString[rcode], q.BlockList, dns.RcodeToString[tt.rcode], tt.list)
		}
	}
}

func TestLocalNames(t *testing.T) {
	ts := testserver.ForTest(t)
	hosts := filepath.Join(t.TempDir(), "hosts")
	os.WriteFile(hosts, []byte("192.168.1.10 nas\n192.168.1.11 printer.lan\n"), 0o644)
	names, err := lan.Load(lan.Config{HostsFiles: []string{hosts}, Domain: "lan", TTL: time.Minute,
		Records: []string{"router.lan. 300 IN A 192.168.1.1", "gw.lan. 300 IN CNAME router.lan."}})
	if err != nil {
		t.Fatal(err)
	}
	var ptr atomic.Pointer[lan.Names]
	ptr.Store(names)
	e := startEnv(t, envOptions{upstreams: []string{ts.PlainUDP()}, tune: func(c *resolver.Config) {
		c.LAN, c.LocalDomains, c.DomainNeeded, c.BogusPriv = &ptr, []string{"lan"}, true, true
	}})
	tests := []struct {
		name   string
		qtype  uint16
		rcode  int
		answer []string
	}{
		{"nas.lan.", dns.TypeA, dns.RcodeSuccess, []string{"192.168.1.10"}},
		{"NAS.", dns.TypeA, dns.RcodeSuccess, []string{"192.168.1.10"}},
		{"gw.lan.", dns.TypeA, dns.RcodeSuccess, []string{"router.lan.", "192.168.1.1"}},
		{"10.1.168.192.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, []string{"nas.lan."}},
		{"nas.lan.", dns.TypeAAAA, dns.RcodeSuccess, nil},
		{"missing.lan.", dns.TypeA, dns.RcodeNameError, nil},
		{"wpad.", dns.TypeA, dns.RcodeNameError, nil},
		{"99.1.168.192.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, nil},
		{"1.0.0.10.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, nil},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", dns.TypePTR, dns.RcodeNameError, nil},
		{"example.test.", dns.TypeANY, dns.RcodeSuccess, []string{`"RFC8482" ""`}},
	}
	for _, tt := range tests {
		r := e.ask(t, "udp", tt.name, tt.qtype, false)
		if r.Rcode != tt.rcode || strings.Join(rdata(r.Answer), " ") != strings.Join(tt.answer, " ") || !r.Authoritative {
			t.Errorf("%s %s: rcode %s aa %v answer %v; want %s %v", tt.name, dns.TypeToString[tt.qtype],
				dns.RcodeToString[r.Rcode], r.Authoritative, rdata(r.Answer), dns.RcodeToString[tt.rcode], tt.answer)
		}
		if q := e.lastSource(t); q.Source.String() != "local" {
			t.Errorf("%s: source %s, want local", tt.name, q.Source)
		}
	}
	for _, leaked := range []string{"missing.lan.", "wpad.", "99.1.168.192.in-addr.arpa.", "1.0.0.10.in-addr.arpa.", "example.test."} {
		if n := ts.Queries(leaked); n != 0 {
			t.Errorf("%s leaked upstream %d times", leaked, n)
		}
	}
	// A public reverse name still goes upstream.
	e.ask(t, "udp", "4.3.2.1.in-addr.arpa.", dns.TypePTR, false)
	if n := ts.Queries("4.3.2.1.in-addr.arpa."); n != 1 {
		t.Errorf("public PTR asked upstream %d times, want 1", n)
	}
}

func TestConditionalForwarding(t *testing.T) {
	office, public := testserver.ForTest(t), testserver.ForTest(t)
	e := startEnv(t, envOptions{upstreams: []string{public.Stamp}, tune: func(c *resolver.Config) {
		c.ForwardZones = map[string][]upstream.Upstream{"Example.TEST": parseUpstreams(t, office.PlainUDP())}
	}})
	e.ask(t, "udp", "mail.example.test.", dns.TypeA, false)
	e.ask(t, "udp", "tracker.ads.test.", dns.TypeA, false)
	if office.Queries("mail.example.test.") != 1 || public.Queries("mail.example.test.") != 0 {
		t.Errorf("mail.example.test: office %d, public %d; want 1, 0", office.Queries("mail.example.test."), public.Queries("mail.example.test."))
	}
	if office.Queries("tracker.ads.test.") != 0 || public.Queries("tracker.ads.test.") != 1 {
		t.Errorf("tracker.ads.test: office %d, public %d; want 0, 1", office.Queries("tracker.ads.test."), public.Queries("tracker.ads.test."))
	}
}

func TestRebindProtection(t *testing.T) {
	ts := testserver.ForTest(t)
	tests := []struct {
		enabled bool
		allow   []string
		rcode   int
	}{
		{true, nil, dns.RcodeRefused},
		{true, []string{"example.test"}, dns.RcodeSuccess},
		{false, nil, dns.RcodeSuccess},
	}
	for _, tt := range tests {
		e := startEnv(t, envOptions{upstreams: []string{ts.PlainUDP()}, tune: func(c *resolver.Config) {
			c.Rebind, c.RebindAllowed = tt.enabled, tt.allow
		}})
		r := e.ask(t, "udp", "rebind.example.test.", dns.TypeA, false)
		if r.Rcode != tt.rcode {
			t.Errorf("protection %v allow %v: rcode %s, want %s", tt.enabled, tt.allow, dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
		}
		// The refused record names the address, which is what an
		// analyst searches the query log for.
		want := ""
		if tt.rcode == dns.RcodeRefused {
			want = "192.168.1.1"
		}
		if recs := querylog.Records("q", e.lastSource(t).LogEntry(r)); recs[0].RebindAddr != want {
			t.Errorf("protection %v allow %v: logged rebind_address %q, want %q", tt.enabled, tt.allow, recs[0].RebindAddr, want)
		}
		if r := e.ask(t, "udp", "example.test.", dns.TypeA, false); r.Rcode != dns.RcodeSuccess {
			t.Errorf("public answer refused: %s", dns.RcodeToString[r.Rcode])
		}
	}
}

func TestRateLimit(t *testing.T) {
	ts := testserver.ForTest(t)
	e := startEnv(t, envOptions{upstreams: []string{ts.PlainUDP()}, tune: func(c *resolver.Config) {
		c.RateQPS, c.RateBurst = 0.001, 5
	}})
	var rcodes []int
	for range 8 {
		rcodes = append(rcodes, e.ask(t, "udp", "example.test.", dns.TypeA, false).Rcode)
	}
	want := []int{0, 0, 0, 0, 0, dns.RcodeRefused, dns.RcodeRefused, dns.RcodeRefused}
	if !slices.Equal(rcodes, want) {
		t.Fatalf("rcodes %v, want %v", rcodes, want)
	}
	if n := e.Pipeline.RateLimit.Refused.Load(); n != 3 {
		t.Errorf("refused count %d, want 3", n)
	}
}

func TestReverseZones(t *testing.T) {
	tests := []struct {
		prefix string
		want   []string
	}{
		{"10.0.0.0/8", []string{"10.in-addr.arpa."}},
		{"192.168.0.0/16", []string{"168.192.in-addr.arpa."}},
		{"172.16.0.0/12", []string{"16.172.in-addr.arpa.", "17.172.in-addr.arpa."}},
		{"fc00::/7", []string{"c.f.ip6.arpa.", "d.f.ip6.arpa."}},
		{"fe80::/10", []string{"8.e.f.ip6.arpa.", "9.e.f.ip6.arpa.", "a.e.f.ip6.arpa.", "b.e.f.ip6.arpa."}},
	}
	for _, tt := range tests {
		got := resolver.ReverseZones([]netip.Prefix{netip.MustParsePrefix(tt.prefix)})
		if len(got) < len(tt.want) || !slices.Equal(got[:len(tt.want)], tt.want) {
			t.Errorf("%s: %v, want %v first", tt.prefix, got, tt.want)
		}
	}
	if n := len(resolver.ReverseZones([]netip.Prefix{netip.MustParsePrefix("172.16.0.0/12")})); n != 16 {
		t.Errorf("172.16.0.0/12 gives %d zones, want 16", n)
	}
}

func TestUpstreamInflightCap(t *testing.T) {
	ts := testserver.ForTest(t)
	ts.SetDelay(300 * time.Millisecond)
	e := startEnv(t, envOptions{upstreams: []string{ts.PlainUDP()}, tune: func(c *resolver.Config) { c.MaxUpstream = 2 }})
	rcodes := make(chan int, 6)
	for i := range 6 {
		go func() {
			// Always sends, so a failed exchange fails the test instead
			// of leaving the loop below waiting.
			r, err := e.exchange("udp", fmt.Sprintf("n%d.gen.test.", i), dns.TypeA, false)
			if err != nil {
				t.Error(err)
				rcodes <- -1
				return
			}
			rcodes <- r.Rcode
		}()
	}
	counts := map[int]int{}
	for range 6 {
		counts[<-rcodes]++
	}
	if counts[dns.RcodeSuccess] != 2 || counts[dns.RcodeServerFailure] != 4 {
		t.Fatalf("rcodes %v: want 2 answered and 4 SERVFAIL with 2 upstream slots", counts)
	}
	// The log says dnsward shed the four, not that an upstream failed.
	sources := map[string]int{}
	for range 6 {
		q := e.lastSource(t)
		sources[q.Source.String()]++
		if shed := errors.Is(q.Err, resolver.ErrBusy); shed != (q.Source.String() == "busy") {
			t.Errorf("%s: source %s, err %v", q.Question().Name, q.Source, q.Err)
		}
	}
	if sources["busy"] != 4 || sources["upstream"] != 2 {
		t.Errorf("sources %v: want 4 busy and 2 upstream", sources)
	}
	// Slots come back once the answers are in.
	if r := e.ask(t, "udp", "later.gen.test.", dns.TypeA, false); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("after the burst: %s", dns.RcodeToString[r.Rcode])
	}
}

// A forward zone for a private reverse zone takes precedence over
// bogus_priv, as a dnsmasq server= line does; the rest of the private
// reverse space stays local.
func TestForwardedPrivateReverseZone(t *testing.T) {
	office, public := testserver.ForTest(t), testserver.ForTest(t)
	e := startEnv(t, envOptions{upstreams: []string{public.PlainUDP()}, tune: func(c *resolver.Config) {
		c.BogusPriv = true
		c.ForwardZones = map[string][]upstream.Upstream{"3.2.10.In-Addr.Arpa": parseUpstreams(t, office.PlainUDP())}
	}})
	for _, tt := range []struct {
		name          string
		office, local bool
	}{
		{"4.3.2.10.in-addr.arpa.", true, false},
		{"4.4.2.10.in-addr.arpa.", false, true},
		{"1.1.168.192.in-addr.arpa.", false, true},
	} {
		e.ask(t, "udp", tt.name, dns.TypePTR, false)
		q := e.lastSource(t)
		if got := office.Queries(tt.name); got != map[bool]int{true: 1}[tt.office] || (q.Source.String() == "local") != tt.local {
			t.Errorf("%s: office asked %d times, source %s; want office %v, local %v", tt.name, got, q.Source, tt.office, tt.local)
		}
		if n := public.Queries(tt.name); n != 0 {
			t.Errorf("%s: public upstream asked %d times", tt.name, n)
		}
	}
	got := resolver.ForwardedPrivateReverse([]string{"corp.example", "3.2.10.in-addr.arpa", "in-addr.arpa", "4.3.2.1.in-addr.arpa", "D.F.ip6.arpa"})
	if want := []string{"3.2.10.in-addr.arpa.", "in-addr.arpa.", "d.f.ip6.arpa."}; !slices.Equal(got, want) {
		t.Errorf("ForwardedPrivateReverse: %v, want %v", got, want)
	}
}

// countingStage counts the queries that reach the stage it wraps.
type countingStage struct {
	resolver.Stage
	n atomic.Int32
}

// Answer counts q and passes it on.
func (c *countingStage) Answer(ctx context.Context, q *resolver.Query) (*dns.Msg, error) {
	c.n.Add(1)
	return c.Stage.Answer(ctx, q)
}

// A query goes down the chain once, also when its answer must wait on an
// upstream: the reader hands the wait to a worker instead of asking again.
func TestChainRunsOncePerQuery(t *testing.T) {
	ts := testserver.ForTest(t)
	counting := &countingStage{}
	e := startEnv(t, envOptions{upstreams: []string{ts.PlainUDP()}, wrap: func(p resolver.Stage) resolver.Stage {
		counting.Stage = p
		return counting
	}})
	for _, tt := range []struct {
		network, name, source string
	}{
		{"udp", "miss.gen.test.", "upstream"},
		{"udp", "miss.gen.test.", "cache"},
		{"tcp", "tcp-miss.gen.test.", "upstream"},
		{"tcp", "tcp-miss.gen.test.", "cache"},
	} {
		before := counting.n.Load()
		e.ask(t, tt.network, tt.name, dns.TypeA, false)
		q := e.lastSource(t)
		if got := counting.n.Load() - before; got != 1 || q.Source.String() != tt.source {
			t.Errorf("%s over %s: through the chain %d times, source %s; want once, %s", tt.name, tt.network, got, q.Source, tt.source)
		}
	}
}
