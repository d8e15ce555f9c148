package resolver

import (
	"context"
	"strings"

	"github.com/miekg/dns"
)

// Route sends names under a domain to that domain's forwarder
// [server=/domain/addr] and everything else to the default one.
type Route struct {
	Domains map[string]Stage // lowercased FQDN domain → forwarder
	Default Stage
}

// Answer asks the forwarder of the longest matching domain.
func (r *Route) Answer(ctx context.Context, q *Query) (*dns.Msg, error) {
	name := strings.ToLower(q.Question().Name)
	for off, end := 0, false; !end; off, end = dns.NextLabel(name, off) {
		if next, ok := r.Domains[name[off:]]; ok {
			return next.Answer(ctx, q)
		}
	}
	return r.Default.Answer(ctx, q)
}
