package resolver

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/dnsward/dnsward/config"
	"github.com/dnsward/dnsward/upstream"
)

// ConfigFrom is the pipeline's part of c. The caller adds what it owns:
// LAN, Blocklist, BlockGroups, OnUpstream and Logger.
func ConfigFrom(c *config.Config) (Config, error) {
	clients, err := c.Clients()
	if err != nil {
		return Config{}, err
	}
	response, err := BlockResponseFrom(c.Blocklists)
	if err != nil {
		return Config{}, err
	}
	ups, err := parseUpstreams(c.Upstreams, c.UpstreamTimeout)
	if err != nil {
		return Config{}, err
	}
	zones := map[string][]upstream.Upstream{}
	for _, z := range c.ForwardZones {
		if zones[z.Domain], err = parseUpstreams(z.Upstreams, c.UpstreamTimeout); err != nil {
			return Config{}, err
		}
	}
	return Config{
		Allowed:       clients,
		RateQPS:       c.RateLimit.QPS,
		RateBurst:     c.RateLimit.Burst,
		LocalDomains:  c.Local.Domains,
		DomainNeeded:  c.Local.DomainNeeded,
		BogusPriv:     c.Local.BogusPriv,
		BlockResponse: response,
		Cache: CacheConfig{
			Size: c.Cache.Size, MinTTL: c.Cache.MinTTL, MaxTTL: c.Cache.MaxTTL,
			NegativeMaxTTL: c.Cache.NegativeMaxTTL, ServeStale: c.Cache.ServeStale,
			Prefetch: c.Cache.Prefetch,
		},
		Rebind:        c.Rebind.Enabled,
		RebindAllowed: c.Rebind.Allow,
		Upstreams:     ups,
		ForwardZones:  zones,
		Attempt:       c.UpstreamTimeout,
		Timeout:       c.QueryTimeout,
		MaxUpstream:   c.Limits.UpstreamInflight,
	}, nil
}

// ConfigProblems is a config.Checker: the upstream URLs and stamps, and the
// block response, that ConfigFrom would refuse.
func ConfigProblems(c *config.Config) []config.Problem {
	var ps []config.Problem
	check := func(key string, raws []string) {
		for i, raw := range raws {
			// The timeout may itself be wrong; it does not change what parses.
			if _, err := upstream.Parse(raw, time.Second); err != nil {
				ps = append(ps, config.Problem{Key: fmt.Sprintf("%s.%d", key, i), Err: err})
			}
		}
	}
	check("upstreams", c.Upstreams)
	for i, z := range c.ForwardZones {
		check(fmt.Sprintf("forward_zones.%d.upstreams", i), z.Upstreams)
	}
	if _, err := BlockResponseFrom(c.Blocklists); err != nil {
		ps = append(ps, config.Problem{Key: "blocklists.response", Err: err})
	}
	return ps
}

func parseUpstreams(raws []string, timeout time.Duration) ([]upstream.Upstream, error) {
	var ups []upstream.Upstream
	for _, raw := range raws {
		u, err := upstream.Parse(raw, timeout)
		if err != nil {
			return nil, err
		}
		ups = append(ups, u)
	}
	return ups, nil
}

// BlockResponseFrom parses blocklists.response: nxdomain, null, refused, or
// one or two addresses ("192.0.2.1", "192.0.2.1,2001:db8::1").
func BlockResponseFrom(b config.Blocklists) (BlockResponse, error) {
	r := BlockResponse{TTL: b.TTL}
	if err := r.Mode.UnmarshalText([]byte(b.Response)); err == nil && r.Mode != BlockIP {
		return r, nil
	}
	r.Mode = BlockIP
	for part := range strings.SplitSeq(b.Response, ",") {
		ip, err := netip.ParseAddr(strings.TrimSpace(part))
		if err != nil {
			return r, fmt.Errorf("%q: want nxdomain, null, refused or IP addresses", b.Response)
		}
		if ip.Is4() {
			r.IPv4 = ip.AsSlice()
		} else {
			r.IPv6 = ip.AsSlice()
		}
	}
	return r, nil
}
