package engine

import (
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dnsward/dnsward/answers"
	"github.com/dnsward/dnsward/querylog"
	"github.com/miekg/dns"
)

// TestAnswersIndexed: answers the engine gives, from upstream, from the
// cache and local ones, reach the answer index with their CNAME chain;
// a blocked answer does not.
func TestAnswersIndexed(t *testing.T) {
	r := start(t)
	r.answer(t, "www.example.test.") // upstream: www -> web -> example.test
	r.answer(t, "www.example.test.") // the cache
	r.answer(t, "router.lan.")       // local
	ix := r.e.Answers()
	if ix == nil {
		t.Fatal("no answer index with the default answers.enabled")
	}
	client := netip.MustParseAddr("127.0.0.1")
	got := ix.Lookup(client, netip.MustParseAddr("192.0.2.1"), time.Now())
	if len(got) != 1 || got[0].Name != "www.example.test" ||
		!slices.Equal(got[0].Chain, []string{"web.example.test", "example.test"}) || got[0].LastAsked.Before(got[0].FirstAsked) {
		t.Errorf("192.0.2.1 for 127.0.0.1: %+v, want www.example.test through its chain", got)
	}
	if v := got[0].ValidUntil.Sub(got[0].LastAsked); v < 5*time.Minute || v > 5*time.Minute+300*time.Second {
		t.Errorf("valid %v past the last answer, want its TTL (at most 300 s) and the 5m grace", v)
	}
	if got := ix.Who(netip.MustParseAddr("192.168.1.1"), time.Time{}); len(got) != 1 || got[0].Name != "router.lan" {
		t.Errorf("router.lan's address: %+v", got)
	}

	r.write(t, "router.lan. 300 IN A 192.168.1.1", "blocklists:\n  rules: [mail.example.test]\n  response: 192.0.2.99\n")
	r.e.Reload(t.Context())
	if got := r.answer(t, "mail.example.test."); got != "192.0.2.99" {
		t.Fatalf("mail.example.test. blocked: %s", got)
	}
	if got := ix.Who(netip.MustParseAddr("192.0.2.99"), time.Time{}); len(got) != 0 {
		t.Errorf("a blocked answer indexed: %+v", got)
	}
	if r.e.Answers() != ix {
		t.Error("the index did not survive the reload")
	}
}

// TestObserveSkipsRepeats: with a cache entry's repeat mark, a repeat by
// the same client and device within the same second is skipped, and any
// other answer is recorded.
func TestObserveSkipsRepeats(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 3, 0, 0, 100e6, time.UTC)
	laptop := answers.MAC{2, 0, 0, 0, 0, 1}
	for _, tc := range []struct {
		name   string
		client string
		mac    answers.MAC
		after  time.Duration
		marked bool
		// wantLast is the first client's LastAsked after the repeat, as
		// an offset from t0; -1 when the repeat is another entry.
		wantLast time.Duration
		wantLen  int
	}{
		{"same client, same second", "192.168.1.23", laptop, 800 * time.Millisecond, true, 0, 1},
		{"same client, next second", "192.168.1.23", laptop, 900 * time.Millisecond, true, 900 * time.Millisecond, 1},
		{"no mark", "192.168.1.23", laptop, 800 * time.Millisecond, false, 800 * time.Millisecond, 1},
		{"other client, same second", "192.168.1.24", laptop, 100 * time.Millisecond, true, -1, 2},
		{"other device, same second", "192.168.1.23", answers.MAC{2, 0, 0, 0, 0, 2}, 100 * time.Millisecond, true, -1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ix := answers.New(answers.Options{})
			var mark atomic.Uint64
			m := new(dns.Msg).SetQuestion("mail.example.test.", dns.TypeA)
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: m.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(192, 0, 2, 25)}}
			first := querylog.Entry{Time: t0, Client: netip.MustParseAddrPort("192.168.1.23:5300"), Device: answers.Device{MAC: laptop},
				Question: m.Question[0], Response: m, Source: "cache"}
			observe(ix, &first, &mark)
			repeat := first
			repeat.Time = t0.Add(tc.after)
			repeat.Client = netip.AddrPortFrom(netip.MustParseAddr(tc.client), 5301)
			repeat.Device.MAC = tc.mac
			markp := &mark
			if !tc.marked {
				markp = nil
			}
			observe(ix, &repeat, markp)
			got := ix.Who(netip.MustParseAddr("192.0.2.25"), time.Time{})
			if len(got) != tc.wantLen {
				t.Fatalf("%d entries, want %d: %+v", len(got), tc.wantLen, got)
			}
			if tc.wantLast >= 0 && !got[0].LastAsked.Equal(t0.Add(tc.wantLast)) {
				t.Errorf("LastAsked %v, want t0+%v", got[0].LastAsked, tc.wantLast)
			}
		})
	}
}
