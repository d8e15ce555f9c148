package engine

import (
	"context"
	"net/netip"
	"sync/atomic"

	"github.com/dnsward/dnsward/resolver"
	"github.com/miekg/dns"
)

// livePipeline answers through the pipeline the last good configuration
// built; queries already in flight finish on the one they started on.
type livePipeline struct {
	atomic.Pointer[resolver.Pipeline]
}

// Answer makes livePipeline a resolver.Stage.
func (l *livePipeline) Answer(ctx context.Context, q *resolver.Query) (*dns.Msg, error) {
	return l.Load().Answer(ctx, q)
}

// The server closes a disallowed client's TCP connection at accept only
// if the pipeline it is given can say who is allowed.
var _ resolver.ClientFilter = (*livePipeline)(nil)

// Allows asks the live configuration's allow_clients.
func (l *livePipeline) Allows(addr netip.Addr) bool { return l.Load().Allows(addr) }
