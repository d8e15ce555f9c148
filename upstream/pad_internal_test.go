package upstream

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestPackPadded: a padded query is a multiple of 128 bytes long, with or
// without EDNS of its own, short or long names, and the query given is
// not changed.
func TestPackPadded(t *testing.T) {
	for _, tc := range []struct {
		name string
		edns bool
	}{
		{"a.test.", false},
		{"a.test.", true},
		{"www.example.com.", true},
		{strings.Repeat("label63-", 7) + "example.test.", true},
		{strings.Repeat("x", 60) + "." + strings.Repeat("y", 60) + ".test.", false},
	} {
		m := new(dns.Msg).SetQuestion(tc.name, dns.TypeAAAA)
		if tc.edns {
			m.SetEdns0(EDNSSize, true)
		}
		before := m.String()
		wire, err := packPadded(m)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(wire)%padBlock != 0 {
			t.Errorf("%s (EDNS %v): %d bytes, want a multiple of %d", tc.name, tc.edns, len(wire), padBlock)
		}
		var back dns.Msg
		if err := back.Unpack(wire); err != nil || back.Question[0].Name != tc.name || back.IsEdns0() == nil || back.IsEdns0().Do() != tc.edns {
			t.Errorf("%s: unpacked %v, %v", tc.name, &back, err)
		}
		if m.String() != before {
			t.Errorf("%s: the query given changed:\n%s\nwant\n%s", tc.name, m, before)
		}
		// Padding twice (a retry) pads once.
		if again, _ := packPadded(&back); len(again) != len(wire) {
			t.Errorf("%s: padded again to %d bytes, want %d", tc.name, len(again), len(wire))
		}
	}
}
