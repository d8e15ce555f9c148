package resolver

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/dnsward/dnsward/upstream"
	"github.com/miekg/dns"
)

// Forwarder is the last stage: it asks the upstream group.
type Forwarder struct {
	Upstreams *upstream.Group
	// Timeout bounds the whole failover, after which the client gets SERVFAIL.
	Timeout time.Duration
	// Slots, when not nil, holds one token per query waiting upstream.
	Slots chan struct{}
}

// ErrBusy is returned when too many queries already wait on upstreams.
var ErrBusy = errors.New("too many queries waiting on upstreams")

// Answer sends a fresh query upstream; the client's id, case and EDNS
// options stay on this side.
func (f *Forwarder) Answer(ctx context.Context, q *Query) (*dns.Msg, error) {
	if f.Slots != nil {
		select {
		case f.Slots <- struct{}{}:
			defer func() { <-f.Slots }()
		default:
			// dnsward shed the query; no upstream was asked, so the log
			// must not blame one.
			q.Source = SourceBusy
			return nil, ErrBusy
		}
	}
	ctx, cancel := context.WithTimeout(ctx, f.Timeout)
	defer cancel()
	question := q.Question()
	m := &dns.Msg{
		// math/rand/v2's generator is the runtime's per-thread ChaCha8,
		// seeded by the kernel: an id as unpredictable as crypto/rand's
		// without dns.Id's system call and reflection on every miss.
		MsgHdr:   dns.MsgHdr{Id: uint16(rand.Uint32()), RecursionDesired: true, CheckingDisabled: q.Req.CheckingDisabled},
		Question: []dns.Question{{Name: strings.ToLower(question.Name), Qtype: question.Qtype, Qclass: question.Qclass}},
	}
	m.SetEdns0(upstream.EDNSSize, q.DO())
	q.Source = SourceUpstream
	r, up, err := f.Upstreams.Exchange(ctx, m)
	if err != nil {
		return nil, err
	}
	q.Upstream = up.String()
	return r, nil
}
