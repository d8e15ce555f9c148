package resolver

import (
	"context"
	"net/netip"

	"github.com/miekg/dns"
)

// DefaultClients are the networks answered when none are configured:
// loopback and the private, unique-local and link-local ranges.
var DefaultClients = []string{
	"127.0.0.0/8", "::1/128",
	"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
	"169.254.0.0/16", "fc00::/7", "fe80::/10",
}

// ACL refuses clients outside the allowed networks, so dnsward is never an
// open resolver.
type ACL struct {
	Allowed []netip.Prefix
	Next    Stage
}

// Answer refuses a client outside Allowed and passes the others on.
func (a *ACL) Answer(ctx context.Context, q *Query) (*dns.Msg, error) {
	if contains(a.Allowed, q.Client.Addr().Unmap()) {
		return a.Next.Answer(ctx, q)
	}
	q.Source = SourceRefused
	return reply(q, dns.RcodeRefused), nil
}

// Allows says whether the client at addr may be answered at all.
func (a *ACL) Allows(addr netip.Addr) bool { return contains(a.Allowed, addr.Unmap()) }

// ClientFilter is a pipeline that can tell at once whether it answers a
// client: the server then closes a TCP connection from any other as soon
// as it is accepted, before it counts against the connection caps.
type ClientFilter interface {
	Allows(addr netip.Addr) bool
}

// contains says whether addr is in any of the networks.
func contains(networks []netip.Prefix, addr netip.Addr) bool {
	for _, p := range networks {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
