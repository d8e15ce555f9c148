package resolver

import "net/netip"

// privateNetwork is a range no public name should point into.
type privateNetwork struct {
	prefix netip.Prefix
	// client: LAN hosts send from it, so it is answered by default.
	client bool
	// rebind: a public name resolving into it is DNS rebinding; the
	// documentation ranges are not, as tests and examples use them.
	rebind bool
}

// privateNetworks is the one list of private ranges: RFC 1918, CGNAT,
// loopback, link-local, ULA and the RFC 6303 locally-served zones. Their
// reverse lookups stay on the LAN [bogus-priv]; the flags pick the default
// clients and the rebinding ranges from it.
var privateNetworks = []privateNetwork{
	{netip.MustParsePrefix("127.0.0.0/8"), true, true},
	{netip.MustParsePrefix("::1/128"), true, true},
	{netip.MustParsePrefix("10.0.0.0/8"), true, true},
	{netip.MustParsePrefix("172.16.0.0/12"), true, true},
	{netip.MustParsePrefix("192.168.0.0/16"), true, true},
	{netip.MustParsePrefix("100.64.0.0/10"), true, true},
	{netip.MustParsePrefix("169.254.0.0/16"), true, true},
	{netip.MustParsePrefix("fc00::/7"), true, true},
	{netip.MustParsePrefix("fe80::/10"), true, true},
	{netip.MustParsePrefix("0.0.0.0/8"), false, true},
	{netip.MustParsePrefix("::/128"), false, true},
	{netip.MustParsePrefix("192.0.2.0/24"), false, false},
	{netip.MustParsePrefix("198.51.100.0/24"), false, false},
	{netip.MustParsePrefix("203.0.113.0/24"), false, false},
	{netip.MustParsePrefix("255.255.255.255/32"), false, false},
	{netip.MustParsePrefix("2001:db8::/32"), false, false},
}

// privatePrefixes are the private ranges that keep says to.
func privatePrefixes(keep func(privateNetwork) bool) []netip.Prefix {
	var out []netip.Prefix
	for _, n := range privateNetworks {
		if keep(n) {
			out = append(out, n.prefix)
		}
	}
	return out
}

// DefaultClients are loopback and the private, CGNAT, unique-local and
// link-local ranges: where LAN hosts send from.
func DefaultClients() []netip.Prefix {
	return privatePrefixes(func(n privateNetwork) bool { return n.client })
}

// rebindNetworks are the addresses a public name must not resolve to.
func rebindNetworks() []netip.Prefix {
	return privatePrefixes(func(n privateNetwork) bool { return n.rebind })
}
