package resolver

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/dnsward/dnsward/upstream"
)

// Config is what the pipeline is built from.
type Config struct {
	Allowed   []netip.Prefix
	Upstreams []upstream.Upstream
	// Attempt bounds one upstream's try; Timeout the whole query.
	Attempt, Timeout time.Duration
	Cache            CacheConfig
}

// Pipeline is the built chain of stages and the parts others report on.
type Pipeline struct {
	Stage
	Cache     *Cache
	Upstreams *upstream.Group
}

// NewPipeline chains access control, cache and upstream forwarding.
func NewPipeline(cfg Config) (*Pipeline, error) {
	if len(cfg.Upstreams) == 0 {
		return nil, fmt.Errorf("pipeline: no upstreams")
	}
	group := upstream.NewGroup(cfg.Upstreams, cfg.Attempt)
	cache, err := NewCache(cfg.Cache, &Forwarder{Upstreams: group, Timeout: cfg.Timeout})
	if err != nil {
		return nil, fmt.Errorf("pipeline: cache: %w", err)
	}
	return &Pipeline{
		Stage:     &ACL{Allowed: cfg.Allowed, Next: cache},
		Cache:     cache,
		Upstreams: group,
	}, nil
}
