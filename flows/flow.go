// Package flows turns connection events and firewall logs into flow
// records attributed to the lookups behind them.
//
// A source (conntrack NEW events, packets an nflog group logs, or a remote
// firewall's kernel log lines over syslog) hands each Flow to a Pipeline,
// which folds repeats into one record per window, joins the rest to the
// answers clients were given (Attribute) and caps the records per second.
package flows

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Flow is one connection or logged packet from a LAN client.
type Flow struct {
	// Time is when the source saw the flow (its clock at receipt).
	Time time.Time
	// Client is the LAN client's address and port.
	Client netip.AddrPort
	// Dest is the destination's address and port (port 0 for ICMP).
	Dest netip.AddrPort
	// Proto is the transport protocol.
	Proto Proto
	// Verdict is what the firewall did.
	Verdict Verdict
	// Prefix is the nflog or log prefix of a dropped or logged packet.
	Prefix string
	// Attribution says whose lookups explain the flow.
	Attribution Attribution
	// Names are the answers behind Dest: the same client's when
	// Attribution is same_client, other clients' when other_client.
	Names []Name
	// Repeats counts the flows of the same key folded into this record
	// (a window's summary record); zero for a first record.
	Repeats int
}

// Name is an answer that gave a client the flow's destination address.
type Name struct {
	// Client is the address that asked: the flow's client for
	// same_client, another client for other_client.
	Client netip.Addr
	// Name is the name asked.
	Name string
	// Chain is the answer's CNAME chain, without Name itself.
	Chain []string
	// FirstAsked and LastAsked are the first and latest answer times.
	FirstAsked, LastAsked time.Time
	// ValidUntil is the latest answer's time plus its TTL and the grace.
	ValidUntil time.Time
}

// Lookuper answers which names stand behind an address. The answer index
// (package answers) has the same two methods over its Entry type; an
// adapter copies each Entry's Client, Name, Chain, FirstAsked, LastAsked
// and ValidUntil into a Name.
type Lookuper interface {
	// Lookup returns the names client was given for addr, valid at at.
	Lookup(client, addr netip.Addr, at time.Time) []Name
	// Who returns every client's names for addr valid at at.
	Who(addr netip.Addr, at time.Time) []Name
}

// Enum is a small enumeration whose text form (String, MarshalText,
// UnmarshalText) comes from its kind's table of names.
type Enum[K enumKind] uint8

// enumKind names an enumeration's values, indexed by value, and what the
// values are of, for errors.
type enumKind interface {
	names() []string
	what() string
}

// String is the value's name, as in records.
func (e Enum[K]) String() string {
	var k K
	if n := k.names(); int(e) < len(n) {
		return n[e]
	}
	return strconv.Itoa(int(e))
}

// MarshalText encodes e as its String.
func (e Enum[K]) MarshalText() ([]byte, error) { return []byte(e.String()), nil }

// UnmarshalText reads the String form.
func (e *Enum[K]) UnmarshalText(b []byte) error {
	var k K
	for i, name := range k.names() {
		if name != "" && strings.EqualFold(name, string(b)) {
			*e = Enum[K](i)
			return nil
		}
	}
	return fmt.Errorf("%s %q: want one of %s", k.what(), b, strings.Join(slices.DeleteFunc(slices.Clone(k.names()), func(s string) bool { return s == "" }), ", "))
}

// Proto is a flow's transport protocol.
type Proto = Enum[protoKind]

type protoKind struct{}

// The tables are arrays so that names() returns them without allocating.
var (
	protoNames       = [...]string{"other", "tcp", "udp", "icmp"}
	verdictNames     = [...]string{"", "new", "dropped", "logged"}
	attributionNames = [...]string{"", "same_client", "other_client", "no_lookup"}
)

func (protoKind) names() []string { return protoNames[:] }
func (protoKind) what() string    { return "protocol" }

// Protocols; ProtoICMP covers ICMPv6 too.
const (
	ProtoOther Proto = iota
	ProtoTCP
	ProtoUDP
	ProtoICMP
)

// ProtoFromIP maps an IP protocol number to a Proto.
func ProtoFromIP(n uint8) Proto {
	switch n {
	case 6:
		return ProtoTCP
	case 17:
		return ProtoUDP
	case 1, 58:
		return ProtoICMP
	}
	return ProtoOther
}

// Verdict is what the firewall did with a flow.
type Verdict = Enum[verdictKind]

type verdictKind struct{}

func (verdictKind) names() []string { return verdictNames[:] }
func (verdictKind) what() string    { return "verdict" }

// Verdicts: a new connection conntrack saw, a packet logged and dropped,
// or a packet logged and let through.
const (
	_ Verdict = iota
	VerdictNew
	VerdictDropped
	VerdictLogged
)

// verdictFor is the verdict of a packet logged with prefix: logged when
// the prefix starts with one of logged, else dropped (a log rule in a
// default-deny ruleset sits just before the drop).
func verdictFor(prefix string, logged []string) Verdict {
	for _, l := range logged {
		if l != "" && strings.HasPrefix(prefix, l) {
			return VerdictLogged
		}
	}
	return VerdictDropped
}

// Attribution says whose lookups explain a flow.
type Attribution = Enum[attributionKind]

type attributionKind struct{}

func (attributionKind) names() []string { return attributionNames[:] }
func (attributionKind) what() string    { return "attribution" }

// Attributions: the flow's client was given the address (same_client),
// only other clients were (other_client), or nobody was (no_lookup: a
// connection to an address no answer held, which bypassed DNS).
const (
	_ Attribution = iota
	SameClient
	OtherClient
	NoLookup
)

// Filter decides which flows are a LAN client's, shared by every source.
type Filter struct {
	// Clients are the LAN prefixes whose flows count; none means all.
	Clients []netip.Prefix
	// DNSAddrs are dnsward's own addresses: DNS (port 53) to them is the
	// lookups themselves, not a flow.
	DNSAddrs []netip.Addr
}

// Keep reports whether f is a flow from a LAN client other than DNS to
// dnsward itself.
func (fl *Filter) Keep(f *Flow) bool {
	if len(fl.Clients) > 0 {
		c, in := f.Client.Addr().Unmap(), false
		for _, p := range fl.Clients {
			if p.Contains(c) {
				in = true
				break
			}
		}
		if !in {
			return false
		}
	}
	if f.Dest.Port() == 53 && (f.Proto == ProtoUDP || f.Proto == ProtoTCP) {
		d := f.Dest.Addr().Unmap()
		for _, a := range fl.DNSAddrs {
			if a.Unmap() == d {
				return false
			}
		}
	}
	return true
}
