package flows

import (
	"net/netip"
	"time"

	"github.com/dnsward/dnsward/answers"
)

// IndexLookuper is the answer index as the pipeline asks it: each Entry
// copied into a Name.
type IndexLookuper struct{ Index *answers.Index }

// Lookup implements Lookuper.
func (l IndexLookuper) Lookup(client, addr netip.Addr, at time.Time) []Name {
	return entryNames(l.Index.Lookup(client, addr, at))
}

// Who implements Lookuper.
func (l IndexLookuper) Who(addr netip.Addr, at time.Time) []Name {
	return entryNames(l.Index.Who(addr, at))
}

func entryNames(es []answers.Entry) []Name {
	if len(es) == 0 {
		return nil
	}
	out := make([]Name, len(es))
	for i, e := range es {
		out[i] = Name{Client: e.Client, Name: e.Name, Chain: e.Chain, FirstAsked: e.FirstAsked, LastAsked: e.LastAsked, ValidUntil: e.ValidUntil}
	}
	return out
}
