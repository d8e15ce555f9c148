package resolver

import "fmt"

// Source is where a query's answer came from, as the query log and the
// metrics name it.
type Source uint8

// The sources; their names are the query log's and must not change.
const (
	// SourceUnknown is a query no stage has answered yet.
	SourceUnknown Source = iota
	// SourceCache is a live cache entry.
	SourceCache
	// SourceUpstream is an upstream's answer, or its failure.
	SourceUpstream
	// SourceLocal is dnsward's own: LAN names, local domains, refusals
	// of what a forwarder must not pass on.
	SourceLocal
	// SourceBlocked is a blocklist's answer.
	SourceBlocked
	// SourceStale is an expired cache entry served when upstreams fail.
	SourceStale
	// SourceRefused is a client outside the allowed networks.
	SourceRefused
	// SourceRateLimited is a client over its query rate.
	SourceRateLimited
	// SourceRebind is an upstream answer refused as DNS rebinding.
	SourceRebind
	// SourceBusy is a query shed because too many wait on upstreams.
	SourceBusy
)

var sourceNames = [...]string{
	SourceUnknown:     "",
	SourceCache:       "cache",
	SourceUpstream:    "upstream",
	SourceLocal:       "local",
	SourceBlocked:     "blocked",
	SourceStale:       "stale",
	SourceRefused:     "refused",
	SourceRateLimited: "ratelimited",
	SourceRebind:      "rebind",
	SourceBusy:        "busy",
}

// String is the source's name in the query log and the metrics.
func (s Source) String() string { return nameOf(sourceNames[:], s, "Source") }

// MarshalText writes the source's name.
func (s Source) MarshalText() ([]byte, error) {
	if int(s) >= len(sourceNames) {
		return nil, fmt.Errorf("unknown source %d", uint8(s))
	}
	return []byte(sourceNames[s]), nil
}

// UnmarshalText reads a source's name, as the query log writes it.
func (s *Source) UnmarshalText(text []byte) error {
	return parseName(sourceNames[:], text, s, "source")
}

// BlockMode is how a blocked name is answered.
type BlockMode uint8

// The block modes, named as blocklists.response spells them.
const (
	// BlockNXDomain answers NXDOMAIN with a SOA for the block TTL.
	BlockNXDomain BlockMode = iota
	// BlockNull answers 0.0.0.0 and ::.
	BlockNull
	// BlockRefused answers REFUSED.
	BlockRefused
	// BlockIP answers the configured addresses.
	BlockIP
)

var blockModeNames = [...]string{
	BlockNXDomain: "nxdomain",
	BlockNull:     "null",
	BlockRefused:  "refused",
	BlockIP:       "ip",
}

// String is the mode's name.
func (m BlockMode) String() string { return nameOf(blockModeNames[:], m, "BlockMode") }

// UnmarshalText reads a mode's name: nxdomain, null, refused or ip.
func (m *BlockMode) UnmarshalText(text []byte) error {
	if err := parseName(blockModeNames[:], text, m, "block mode"); err != nil {
		return fmt.Errorf("%w: want nxdomain, null, refused or ip", err)
	}
	return nil
}

// nameOf is v's name in names, or the type and number of a value without
// one.
func nameOf[T ~uint8](names []string, v T, typ string) string {
	if int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", typ, uint8(v))
}

// parseName sets *v to the value named text in names.
func parseName[T ~uint8](names []string, text []byte, v *T, what string) error {
	for i, name := range names {
		if name == string(text) {
			*v = T(i)
			return nil
		}
	}
	return fmt.Errorf("unknown %s %q", what, text)
}
