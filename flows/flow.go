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

// Lookuper answers which names stand behind an address; the answer index
// (package answers) is one once its Entry values are copied into Names.
type Lookuper interface {
	// Lookup returns the names client was given for addr, valid at at.
	Lookup(client, addr netip.Addr, at time.Time) []Name
	// Who returns every client's names for addr valid at at.
	Who(addr netip.Addr, at time.Time) []Name
}

// enum is the text form shared by the small enumerations below.
type enum[T ~uint8] []string

func (e enum[T]) text(v T) string {
	if int(v) < len(e) {
		return e[v]
	}
	return fmt.Sprintf("%d", v)
}

func (e enum[T]) parse(kind, s string) (T, error) {
	for i, name := range e {
		if name != "" && strings.EqualFold(name, s) {
			return T(i), nil
		}
	}
	return 0, fmt.Errorf("%s %q: want one of %s", kind, s, strings.Join(e[1:], ", "))
}

// Proto is a flow's transport protocol.
type Proto uint8

// Protocols; ProtoICMP covers ICMPv6 too.
const (
	ProtoOther Proto = iota
	ProtoTCP
	ProtoUDP
	ProtoICMP
)

var protoNames = enum[Proto]{"other", "tcp", "udp", "icmp"}

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

// String is the lowercase name, as in records.
func (p Proto) String() string { return protoNames.text(p) }

// MarshalText encodes p as its String.
func (p Proto) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads the String form.
func (p *Proto) UnmarshalText(b []byte) (err error) {
	*p, err = protoNames.parse("protocol", string(b))
	return err
}

// Verdict is what the firewall did with a flow.
type Verdict uint8

// Verdicts: a new connection conntrack saw, a packet logged and dropped,
// or a packet logged and let through.
const (
	_ Verdict = iota
	VerdictNew
	VerdictDropped
	VerdictLogged
)

var verdictNames = enum[Verdict]{"", "new", "dropped", "logged"}

// String is the lowercase name, as in records.
func (v Verdict) String() string { return verdictNames.text(v) }

// MarshalText encodes v as its String.
func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText reads the String form.
func (v *Verdict) UnmarshalText(b []byte) (err error) {
	*v, err = verdictNames.parse("verdict", string(b))
	return err
}

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
type Attribution uint8

// Attributions: the flow's client was given the address (same_client),
// only other clients were (other_client), or nobody was (no_lookup: a
// connection to an address no answer held, which bypassed DNS).
const (
	_ Attribution = iota
	SameClient
	OtherClient
	NoLookup
)

var attributionNames = enum[Attribution]{"", "same_client", "other_client", "no_lookup"}

// String is the snake_case name, as in records.
func (a Attribution) String() string { return attributionNames.text(a) }

// MarshalText encodes a as its String.
func (a Attribution) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText reads the String form.
func (a *Attribution) UnmarshalText(b []byte) (err error) {
	*a, err = attributionNames.parse("attribution", string(b))
	return err
}

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
