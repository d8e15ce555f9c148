package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dnsward/dnsward/lan"
	"github.com/dnsward/dnsward/upstream"
	"github.com/miekg/dns"
)

// Config is what the pipeline is built from.
type Config struct {
	Allowed []netip.Prefix
	// RateQPS and RateBurst limit each client; a zero RateQPS turns it off.
	RateQPS   float64
	RateBurst int
	// LAN holds the local names, swapped whole on reload; may hold nil.
	LAN          *atomic.Pointer[lan.Names]
	LocalDomains []string
	DomainNeeded bool
	BogusPriv    bool
	// Blocklist may be nil; BlockGroups add lists for some clients.
	Blocklist     Blocklist
	BlockGroups   []BlockGroup
	BlockResponse BlockResponse
	Cache         CacheConfig
	// Rebind turns on rebinding protection; RebindAllowed are exempt, as
	// are local and conditionally forwarded domains.
	Rebind        bool
	RebindAllowed []string
	Upstreams     []upstream.Upstream
	// ForwardZones sends a domain's names to its own upstreams.
	ForwardZones map[string][]upstream.Upstream
	// Attempt bounds one upstream's try; Timeout the whole query.
	Attempt, Timeout time.Duration
	// MaxUpstream caps queries waiting on upstreams, all groups together;
	// 0 means no cap.
	MaxUpstream int
	// SetFeed, when set, gets the addresses answered for the names it
	// covers before the answer is sent (see SetFeed).
	SetFeed SetFeeder
	// OnUpstream, when set, is told about every upstream exchange.
	OnUpstream func(upstream string, took time.Duration, err error)
	// OnUpstreamMessages, when set, is handed every upstream exchange's
	// query and response (see upstream.Group.OnMessages).
	OnUpstreamMessages func(up upstream.Upstream, q, r *dns.Msg, sent, done time.Time)
	Logger             *slog.Logger
}

// Pipeline is the built chain of stages and the parts others report on.
type Pipeline struct {
	Stage
	Cache     *Cache
	Upstreams *upstream.Group
	RateLimit *RateLimit // nil when off
	acl       *ACL
	// groups are the default and the conditional-forwarding upstreams.
	groups []*upstream.Group
}

// RateLimited counts queries refused by the rate limit.
func (p *Pipeline) RateLimited() uint64 {
	if p.RateLimit == nil {
		return 0
	}
	return p.RateLimit.Refused.Load()
}

// UpstreamStatus reports the health of every upstream, default ones first.
func (p *Pipeline) UpstreamStatus() []upstream.Status {
	var out []upstream.Status
	for _, g := range p.groups {
		out = append(out, g.Status()...)
	}
	return out
}

// Close closes every upstream group's sockets and empties the cache, once
// Run has returned and the pipeline is no longer the one queries are sent
// to; queries still in flight on it end as they would have.
func (p *Pipeline) Close() error {
	errs := []error{p.Cache.Close()}
	for _, g := range p.groups {
		errs = append(errs, g.Close())
	}
	return errors.Join(errs...)
}

// Run keeps every upstream group's health and certificates, and popular
// cache entries, up to date in the background until ctx is done.
func (p *Pipeline) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, g := range p.groups {
		wg.Go(func() { g.Run(ctx) })
	}
	wg.Go(func() { p.Cache.Run(ctx) })
	wg.Wait()
}

// NewPipeline chains access control, rate limiting, local names, feeding
// firewall sets, blocking, cache, rebinding protection and forwarding, in
// that order.
func NewPipeline(cfg Config) (*Pipeline, error) {
	if len(cfg.Upstreams) == 0 {
		return nil, fmt.Errorf("pipeline: no upstreams")
	}
	p := &Pipeline{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	newGroup := func(ups []upstream.Upstream) *upstream.Group {
		g := upstream.NewGroup(ups, cfg.Attempt)
		g.OnExchange, g.OnMessages, g.Logger = cfg.OnUpstream, cfg.OnUpstreamMessages, cfg.Logger
		p.groups = append(p.groups, g)
		return g
	}
	p.Upstreams = newGroup(cfg.Upstreams)
	var slots chan struct{}
	if cfg.MaxUpstream > 0 {
		slots = make(chan struct{}, cfg.MaxUpstream)
	}
	route := &Route{
		Domains: map[string]Stage{},
		Default: &Forwarder{Upstreams: p.Upstreams, Timeout: cfg.Timeout, Slots: slots},
	}
	exempt := append(append([]string{}, cfg.RebindAllowed...), cfg.LocalDomains...)
	for domain, ups := range cfg.ForwardZones {
		domain = canonical(domain)
		route.Domains[domain] = &Forwarder{Upstreams: newGroup(ups), Timeout: cfg.Timeout, Slots: slots}
		exempt = append(exempt, domain)
	}
	var next Stage = route
	if cfg.Rebind {
		next = &Rebind{Private: rebindNetworks(), Allowed: canonicalAll(exempt), Logger: cfg.Logger, Next: next}
	}
	cache := NewCache(cfg.Cache, next)
	p.Cache, next = cache, cache
	if cfg.Blocklist != nil || len(cfg.BlockGroups) > 0 {
		next = &Block{Lists: cfg.Blocklist, Groups: cfg.BlockGroups, Response: cfg.BlockResponse, Next: next}
	}
	if cfg.SetFeed != nil {
		next = &SetFeed{Sets: cfg.SetFeed, Next: next}
	}
	local := &Local{Names: cfg.LAN, Domains: canonicalAll(cfg.LocalDomains), DomainNeeded: cfg.DomainNeeded, Next: next}
	if local.Names == nil {
		local.Names = new(atomic.Pointer[lan.Names])
	}
	if cfg.BogusPriv {
		local.PrivateReverse = privateReverseZones()
		local.Forwarded = ForwardedPrivateReverse(slices.Collect(maps.Keys(cfg.ForwardZones)))
	}
	next = local
	if cfg.RateQPS > 0 {
		p.RateLimit = NewRateLimit(cfg.RateQPS, max(cfg.RateBurst, 1), 100000, cfg.Logger, next)
		next = p.RateLimit
	}
	p.acl = &ACL{Allowed: cfg.Allowed, Next: next}
	p.Stage = p.acl
	return p, nil
}

// Allows says whether the pipeline answers the client at addr; it makes
// Pipeline a ClientFilter.
func (p *Pipeline) Allows(addr netip.Addr) bool { return p.acl.Allows(addr) }

func canonical(domain string) string { return dns.Fqdn(strings.ToLower(domain)) }

func canonicalAll(domains []string) []string {
	out := make([]string, len(domains))
	for i, d := range domains {
		out[i] = canonical(d)
	}
	return out
}
