package resolver_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dnsward/dnsward/resolver"
	"github.com/dnsward/dnsward/upstream"
	"github.com/miekg/dns"
)

// env is dnsward on a random loopback port in front of real test resolvers.
type env struct {
	Addr     string // dnsward's host:port, UDP and TCP
	Pipeline *resolver.Pipeline
	Answered chan *resolver.Query
}

type envOptions struct {
	upstreams []string
	allowed   []string
	// listen is the address to serve on; 127.0.0.1:0 when empty.
	listen string
	cache  resolver.CacheConfig
	// tune adjusts the pipeline configuration before it is built.
	tune func(*resolver.Config)
	// done, when set, also sees every answered query.
	done func(*resolver.Query, *dns.Msg)
	// logger receives the server's and the pipeline's logs; nil discards.
	logger *slog.Logger
	// wrap, when set, puts a stage of the test's in front of the pipeline.
	wrap func(resolver.Stage) resolver.Stage
}

func parseUpstreams(t testing.TB, raws ...string) []upstream.Upstream {
	t.Helper()
	var ups []upstream.Upstream
	for _, raw := range raws {
		u, err := upstream.Parse(raw, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, u)
	}
	return ups
}

func startEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	ups := parseUpstreams(t, o.upstreams...)
	allowed := resolver.DefaultClients()
	if o.allowed != nil {
		allowed = nil
		for _, s := range o.allowed {
			allowed = append(allowed, netip.MustParsePrefix(s))
		}
	}
	if o.cache.Size == 0 {
		o.cache = resolver.CacheConfig{Size: 1000, MaxTTL: 24 * time.Hour, NegativeMaxTTL: time.Hour}
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	cfg := resolver.Config{
		Allowed: allowed, Upstreams: ups, Attempt: time.Second, Timeout: 2 * time.Second,
		Cache: o.cache, Logger: o.logger,
	}
	if o.tune != nil {
		o.tune(&cfg)
	}
	p, err := resolver.NewPipeline(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if o.listen == "" {
		o.listen = "127.0.0.1:0"
	}
	ls, err := resolver.Listen([]string{o.listen})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{Addr: ls.UDP[0].LocalAddr().String(), Pipeline: p, Answered: make(chan *resolver.Query, 1000)}
	var front resolver.Stage = p
	if o.wrap != nil {
		front = o.wrap(p)
	}
	srv := &resolver.Server{
		Pipeline: front,
		Logger:   o.logger,
		Done: func(q *resolver.Query, resp *dns.Msg) {
			if o.done != nil {
				o.done(q, resp)
			}
			q.Keep()
			select {
			case e.Answered <- q:
			default:
			}
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ls) }()
	background := make(chan struct{})
	go func() { p.Run(ctx); close(background) }()
	t.Cleanup(func() {
		cancel()
		// Idle workers must end with the reader, not when their idle
		// timer runs out.
		waitStopped(t, done, 5*time.Second)
		<-background
	})
	return e
}

// fakeClock is a cache clock the test moves by hand.
type fakeClock struct{ nanos atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.nanos.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

// Now is the clock's time; it fits CacheConfig.Now.
func (c *fakeClock) Now() time.Time { return time.Unix(0, c.nanos.Load()) }

// Advance moves the clock on by d.
func (c *fakeClock) Advance(d time.Duration) { c.nanos.Add(int64(d)) }

// waitStopped fails t unless Serve, whose result done carries, returns
// within d of its context ending.
func waitStopped(t testing.TB, done <-chan error, d time.Duration) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve: %v", err)
		}
	case <-time.After(d):
		t.Errorf("serve still running %s after its context ended", d)
	}
}

// ask sends one query over network ("udp" or "tcp") and fails the test on
// a transport error. It calls t.Fatal, so only the test's goroutine may
// use it; others use exchange.
func (e *env) ask(t *testing.T, network, name string, qtype uint16, edns bool) *dns.Msg {
	t.Helper()
	r, err := e.exchange(network, name, qtype, edns)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// exchange sends one query over network and returns its answer or why
// there is none; any goroutine may call it.
func (e *env) exchange(network, name string, qtype uint16, edns bool) (*dns.Msg, error) {
	m := new(dns.Msg).SetQuestion(name, qtype)
	if edns {
		m.SetEdns0(1232, false)
	}
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, e.Addr)
	if err != nil {
		return nil, fmt.Errorf("%s %s over %s: %w", name, dns.TypeToString[qtype], network, err)
	}
	return r, nil
}

// lastSource is where the most recent answered query came from.
func (e *env) lastSource(t *testing.T) *resolver.Query {
	t.Helper()
	select {
	case q := <-e.Answered:
		return q
	case <-time.After(5 * time.Second):
		t.Fatal("no query answered")
		return nil
	}
}
