package engine

import (
	"net/netip"
	"slices"
	"testing"
	"time"
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
		!slices.Equal(got[0].Chain, []string{"web.example.test", "example.test"}) || !got[0].LastAsked.After(got[0].FirstAsked) {
		t.Errorf("192.0.2.1 for 127.0.0.1: %+v, want www.example.test asked twice through its chain", got)
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
