package resolver_test

import (
	"testing"

	"github.com/dnsward/dnsward/resolver"
)

// The names are the query log's and the metrics' source values: records
// already written and dashboards depend on them staying the same.
func TestSourceNames(t *testing.T) {
	for _, tt := range []struct {
		source resolver.Source
		name   string
	}{
		{resolver.SourceUnknown, ""},
		{resolver.SourceCache, "cache"},
		{resolver.SourceUpstream, "upstream"},
		{resolver.SourceLocal, "local"},
		{resolver.SourceBlocked, "blocked"},
		{resolver.SourceStale, "stale"},
		{resolver.SourceRefused, "refused"},
		{resolver.SourceRateLimited, "ratelimited"},
		{resolver.SourceRebind, "rebind"},
		{resolver.SourceBusy, "busy"},
	} {
		text, err := tt.source.MarshalText()
		if tt.source.String() != tt.name || string(text) != tt.name || err != nil {
			t.Errorf("source %d: String %q, MarshalText %q %v; want %q", uint8(tt.source), tt.source.String(), text, err, tt.name)
		}
		var back resolver.Source
		if err := back.UnmarshalText([]byte(tt.name)); err != nil || back != tt.source {
			t.Errorf("UnmarshalText(%q) = %d, %v; want %d", tt.name, uint8(back), err, uint8(tt.source))
		}
	}
	var s resolver.Source
	if err := s.UnmarshalText([]byte("cached")); err == nil {
		t.Error("UnmarshalText(cached): no error")
	}
	if _, err := resolver.Source(200).MarshalText(); err == nil {
		t.Error("MarshalText of source 200: no error")
	}
}

func TestBlockModeNames(t *testing.T) {
	for _, tt := range []struct {
		name string
		mode resolver.BlockMode
		ok   bool
	}{
		{"nxdomain", resolver.BlockNXDomain, true},
		{"null", resolver.BlockNull, true},
		{"refused", resolver.BlockRefused, true},
		{"ip", resolver.BlockIP, true},
		{"NXDOMAIN", 0, false},
		{"", 0, false},
	} {
		var m resolver.BlockMode
		err := m.UnmarshalText([]byte(tt.name))
		if (err == nil) != tt.ok || tt.ok && (m != tt.mode || m.String() != tt.name) {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v, ok %v", tt.name, m, err, tt.mode, tt.ok)
		}
	}
}
