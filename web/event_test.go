package web

import (
	"encoding/json"
	"math"
	"net/netip"
	"testing"
	"time"
)

// TestAppendEvent checks the stream's own encoder against json.Marshal,
// which the API's documentation and the page's script were written for.
func TestAppendEvent(t *testing.T) {
	at := time.Date(2026, 12, 2, 5, 0, 1, 123456789, time.FixedZone("", 3600))
	full := Event{Time: at, Client: netip.MustParseAddr("192.168.1.20"), Host: "laptop", Name: "ads.example.test",
		Type: "A", Source: "blocked", Rcode: "NXDOMAIN", Upstream: "1.1.1.1:53", BlockList: "ads", BlockRule: "||ads.example.test^", LatencyMS: 0.042}
	for _, tc := range []struct {
		name string
		ev   Event
	}{
		{"zero", Event{}},
		{"full", full},
		{"cache hit", Event{Time: at.UTC(), Client: netip.MustParseAddr("2001:db8::1"), Name: "example.test", Type: "AAAA", Source: "cache", Rcode: "NOERROR", LatencyMS: 1}},
		{"zoned client", Event{Client: netip.MustParseAddr("fe80::1%eth0"), Name: "a.test"}},
		{"odd zone", Event{Client: netip.MustParseAddr("fe80::1%<e\"\\>"), Name: "a.test"}},
		{"escaped name", Event{Name: `a\032b.te"st<&>` + "\x01\u00e9\u2028\xff", Host: "caf\u00e9", BlockRule: `/^ads?\./`}},
		{"tiny latency", Event{LatencyMS: 1e-7}},
		{"huge latency", Event{LatencyMS: 1e22}},
		{"negative latency", Event{LatencyMS: -2.5}},
		{"nan latency", Event{LatencyMS: math.NaN()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(tc.ev)
			if err != nil {
				want = nil // json.Marshal refuses NaN: so does the stream, as before
			}
			if got := appendEvent(nil, &tc.ev); err == nil && string(got) != string(want) {
				t.Errorf("appendEvent:\n got %s\nwant %s", got, want)
			}
		})
	}
}

// FuzzAppendEvent runs the same comparison over the fuzzer's strings.
func FuzzAppendEvent(f *testing.F) {
	f.Add("www.example.test", "laptop", "||ads^", 0.5, int64(1764651600123456789))
	f.Add("\"<\\>\x00\u00e9", "", "\xfe", 1e-9, int64(0))
	f.Fuzz(func(t *testing.T, name, host, rule string, latency float64, nanos int64) {
		ev := Event{Time: time.Unix(0, nanos).UTC(), Client: netip.MustParseAddr("10.0.0.1"), Name: name, Host: host, BlockRule: rule, LatencyMS: latency}
		want, err := json.Marshal(ev)
		if err != nil {
			t.Skip(err) // NaN and infinities
		}
		if got := appendEvent(nil, &ev); string(got) != string(want) {
			t.Errorf("appendEvent:\n got %s\nwant %s", got, want)
		}
	})
}
