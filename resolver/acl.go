package resolver

import (
	"context"
	"net/netip"

	"github.com/miekg/dns"
)

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
