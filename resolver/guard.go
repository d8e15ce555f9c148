package resolver

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/miekg/dns"
)

// RateLimit gives each client a token bucket of queries, so one busy or
// hostile host cannot starve the others.
type RateLimit struct {
	// Rate is queries per second refilled; Burst the bucket's size.
	Rate    float64
	Burst   int
	Logger  *slog.Logger
	Next    Stage
	buckets *lru.Cache[netip.Addr, *bucket]
	// Refused counts queries refused for going over the limit.
	Refused atomic.Uint64
}

type bucket struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
	warned time.Time
}

// NewRateLimit tracks at most clients buckets: the least recently seen
// client forgets its history first, which only ever favours it.
func NewRateLimit(rate float64, burst, clients int, logger *slog.Logger, next Stage) *RateLimit {
	buckets, _ := lru.New[netip.Addr, *bucket](max(clients, 1))
	return &RateLimit{Rate: rate, Burst: burst, Logger: logger, Next: next, buckets: buckets}
}

// Answer refuses a client over its rate and passes the others on.
func (r *RateLimit) Answer(ctx context.Context, q *Query) (*dns.Msg, error) {
	if r.allow(q.Client.Addr().Unmap(), q.Start) {
		return r.Next.Answer(ctx, q)
	}
	r.Refused.Add(1)
	q.Source = SourceRateLimited
	return reply(q, dns.RcodeRefused), nil
}

func (r *RateLimit) allow(client netip.Addr, now time.Time) bool {
	b, ok := r.buckets.Get(client)
	if !ok {
		fresh := &bucket{tokens: float64(r.Burst), last: now}
		if prev, raced, _ := r.buckets.PeekOrAdd(client, fresh); raced {
			b = prev
		} else {
			b = fresh
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens = min(float64(r.Burst), b.tokens+now.Sub(b.last).Seconds()*r.Rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	if now.Sub(b.warned) > time.Minute {
		b.warned = now
		r.Logger.Warn("client over its query rate: refusing", "client", client, "rate", r.Rate, "burst", r.Burst)
	}
	return false
}

// Rebind drops upstream answers that point public names at private,
// loopback or link-local addresses [stop-dns-rebind], which would let a web
// page reach into the LAN.
type Rebind struct {
	Private []netip.Prefix
	// Allowed names may resolve privately [rebind-domain-ok].
	Allowed []string
	Logger  *slog.Logger
	Next    Stage
}

// Answer passes the query on and refuses an answer that rebinds, deferred
// or not.
func (g *Rebind) Answer(ctx context.Context, q *Query) (*dns.Msg, error) {
	m, err := g.Next.Answer(ctx, q)
	if d, ok := err.(*Deferred); ok {
		return nil, d.Then(func(m *dns.Msg) *dns.Msg { return g.check(q, m) })
	}
	if err != nil {
		return m, err
	}
	return g.check(q, m), nil
}

// check is m, or REFUSED when m points q's name at a private address.
func (g *Rebind) check(q *Query, m *dns.Msg) *dns.Msg {
	if m.Rcode != dns.RcodeSuccess || g.allowed(q.Question().Name) {
		return m
	}
	for _, rr := range m.Answer {
		var ip netip.Addr
		switch rr := rr.(type) {
		case *dns.A:
			ip, _ = netip.AddrFromSlice(rr.A.To4())
		case *dns.AAAA:
			ip, _ = netip.AddrFromSlice(rr.AAAA)
		default:
			continue
		}
		if g.private(ip) {
			g.Logger.Warn("possible DNS rebinding: refused an upstream answer with a private address",
				"name", q.Question().Name, "address", ip, "upstream", q.Upstream, "client", q.Client)
			q.Source, q.RebindAddr = SourceRebind, ip
			return reply(q, dns.RcodeRefused)
		}
	}
	return m
}

func (g *Rebind) allowed(name string) bool {
	return underAny(strings.ToLower(name), g.Allowed)
}

func (g *Rebind) private(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range g.Private {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
