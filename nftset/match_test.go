package nftset

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestFamilyText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Family
	}{{"inet", Inet}, {"ip", IP}, {"ip6", IP6}} {
		var f Family
		if err := f.UnmarshalText([]byte(tc.in)); err != nil || f != tc.want || f.String() != tc.in {
			t.Errorf("UnmarshalText(%q) = %v, %v; String %q", tc.in, f, err, f.String())
		}
	}
	for _, bad := range []string{"", "INET", "ipv4", "bridge"} {
		var f Family
		if err := f.UnmarshalText([]byte(bad)); err == nil || !strings.Contains(err.Error(), "inet, ip or ip6") {
			t.Errorf("UnmarshalText(%q) = %v, want an error listing the families", bad, err)
		}
	}
}

func TestSetsMatch(t *testing.T) {
	com, sub, org := &Target{Domain: "example.com"}, &Target{Domain: "cdn.example.com"}, &Target{Domain: "org"}
	f := &Feeder{domains: map[string]*Target{com.Domain: com, sub.Domain: sub, org.Domain: org}}
	for _, tc := range []struct {
		name string
		want *Target
	}{
		{"example.com", com},
		{"example.com.", com},
		{"WWW.Example.COM.", com},
		{"a.b.example.com", com},
		{"cdn.example.com", sub},
		{"x.CDN.example.com.", sub},
		{"notexample.com", nil},
		{"example.com.evil.net", nil},
		{"com", nil},
		{"", nil},
		{".", nil},
		{"wikipedia.org", org},
		{strings.Repeat("a.", 200) + "example.com", nil}, // longer than a name can be
	} {
		if got := f.Sets(tc.name); got != tc.want {
			t.Errorf("Sets(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { f.Sets("www.Example.net.") }); n != 0 {
		t.Errorf("Sets of a name outside the rules allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { f.Sets("www.Example.com.") }); n != 0 {
		t.Errorf("Sets of a matching name allocates %v times", n)
	}
	var off *Feeder
	if got := off.Sets("example.com"); got != nil {
		t.Errorf("nil Feeder: Sets = %v", got)
	}
	if err := off.Add(context.Background(), "example.com", nil, time.Minute); err != nil {
		t.Errorf("nil Feeder: Add = %v", err)
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{"Example.COM": "example.com", ".example.com.": "example.com"} {
		if got, err := normalize(in); got != want || err != nil {
			t.Errorf("normalize(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", ".", "a..b", "a b", "/example.com/", strings.Repeat("a", 254)} {
		if _, err := normalize(bad); err == nil {
			t.Errorf("normalize(%q) accepted", bad)
		}
	}
}

// TestLogFailureRateLimit checks one line per 10 s with the count of the
// lines left out, on an injected clock.
func TestLogFailureRateLimit(t *testing.T) {
	var out bytes.Buffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := &Feeder{log: slog.New(slog.NewTextHandler(&out, nil)), now: func() time.Time { return now }}
	lines := func() int { return strings.Count(out.String(), "\n") }
	f.logFailure("nftset: add failed", "example.com", nil)
	for range 5 {
		now = now.Add(time.Second)
		f.logFailure("nftset: add failed", "example.com", nil)
	}
	if lines() != 1 {
		t.Fatalf("%d lines within 10 s, want 1:\n%s", lines(), out.String())
	}
	now = now.Add(5 * time.Second) // 10 s after the first line
	f.logFailure("nftset: add failed", "example.com", nil)
	if lines() != 2 || !strings.Contains(out.String(), "not_logged_since_last=5") {
		t.Fatalf("want a second line counting 5 left out:\n%s", out.String())
	}
}
