package upstream

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/miekg/dns"
)

// Plain is an unencrypted DNS resolver, for local forwarding and tests.
type Plain struct {
	// Addr is host:port.
	Addr string
	// TCPOnly skips UDP.
	TCPOnly bool

	closed atomic.Bool
}

// Exchange asks over UDP and retries over TCP when the answer is truncated.
func (p *Plain) Exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	if p.closed.Load() {
		return nil, fmt.Errorf("%s: %w", p, ErrClosed)
	}
	if !p.TCPOnly {
		r, err := p.ask(ctx, "udp", m)
		if err != nil || !r.Truncated {
			return r, err
		}
	}
	return p.ask(ctx, "tcp", m)
}

func (p *Plain) ask(ctx context.Context, network string, m *dns.Msg) (*dns.Msg, error) {
	r, err := p.exchange(ctx, network, m)
	if err == nil {
		err = check(m, r)
	}
	if err != nil {
		return nil, fmt.Errorf("%s over %s: %w", p, network, err)
	}
	return r, nil
}

// exchange is dns.Client's, which heeds ctx's deadline but not its
// cancellation: closing the connection then ends the wait at once.
func (p *Plain) exchange(ctx context.Context, network string, m *dns.Msg) (*dns.Msg, error) {
	c := &dns.Client{Net: network, UDPSize: EDNSSize}
	co, err := c.DialContext(ctx, p.Addr)
	if err != nil {
		return nil, err
	}
	defer co.Close()
	stop := context.AfterFunc(ctx, func() { co.Close() })
	defer stop()
	r, _, err := c.ExchangeWithConnContext(ctx, m, co)
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return r, err
}

// String is the upstream URL.
func (p *Plain) String() string {
	if p.TCPOnly {
		return "tcp://" + p.Addr
	}
	return "udp://" + p.Addr
}

// Close makes later exchanges fail; Plain keeps no socket between them.
func (p *Plain) Close() error {
	p.closed.Store(true)
	return nil
}
