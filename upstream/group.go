package upstream

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// ewmaWeight is the share of the newest sample in the latency average.
const ewmaWeight = 0.2

// maxBackoff caps how long a failing upstream is tried only as a last resort.
const maxBackoff = 30 * time.Second

// Group sends each query to its fastest healthy upstream and fails over to
// the next on error or timeout.
type Group struct {
	members []*member
	// attempt bounds one upstream's try, so a silent upstream leaves time
	// for the others within the caller's deadline.
	attempt time.Duration
}

type member struct {
	up Upstream

	mu        sync.Mutex
	latency   time.Duration // EWMA of successful exchanges
	failures  int           // consecutive
	downUntil time.Time
}

// NewGroup tries each upstream for at most attempt per query.
func NewGroup(ups []Upstream, attempt time.Duration) *Group {
	g := &Group{attempt: attempt}
	for _, u := range ups {
		g.members = append(g.members, &member{up: u})
	}
	return g
}

// Exchange returns the first good response and the upstream that gave it.
// A SERVFAIL or REFUSED answer moves on to the next upstream but is returned
// when no upstream does better.
func (g *Group) Exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, Upstream, error) {
	var errs []error
	var fallback *dns.Msg
	var fallbackFrom Upstream
	for _, mb := range g.order() {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		actx, cancel := context.WithTimeout(ctx, g.attempt)
		start := time.Now()
		r, err := mb.up.Exchange(actx, m)
		cancel()
		if err == nil && (r.Rcode == dns.RcodeServerFailure || r.Rcode == dns.RcodeRefused) {
			fallback, fallbackFrom = r, mb.up
			err = fmt.Errorf("%s: answered %s", mb.up, dns.RcodeToString[r.Rcode])
		}
		mb.record(time.Since(start), err)
		if err == nil {
			return r, mb.up, nil
		}
		errs = append(errs, err)
	}
	if fallback != nil {
		return fallback, fallbackFrom, nil
	}
	return nil, nil, fmt.Errorf("all upstreams failed: %w", errors.Join(errs...))
}

// order puts healthy upstreams first, fastest first; an upstream never
// measured counts as fastest so that it gets measured.
func (g *Group) order() []*member {
	now := time.Now()
	type ranked struct {
		mb      *member
		down    bool
		latency time.Duration
	}
	rs := make([]ranked, len(g.members))
	for i, mb := range g.members {
		mb.mu.Lock()
		rs[i] = ranked{mb, now.Before(mb.downUntil), mb.latency}
		mb.mu.Unlock()
	}
	slices.SortStableFunc(rs, func(a, b ranked) int {
		if a.down != b.down {
			if a.down {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.latency, b.latency)
	})
	out := make([]*member, len(rs))
	for i, r := range rs {
		out[i] = r.mb
	}
	return out
}

func (mb *member) record(took time.Duration, err error) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if err != nil {
		mb.failures++
		backoff := min(time.Second<<min(mb.failures-1, 5), maxBackoff)
		mb.downUntil = time.Now().Add(backoff)
		return
	}
	mb.failures = 0
	mb.downUntil = time.Time{}
	if mb.latency == 0 {
		mb.latency = took
		return
	}
	mb.latency = time.Duration(ewmaWeight*float64(took) + (1-ewmaWeight)*float64(mb.latency))
}

// Status describes one upstream's health for logs and stats.
type Status struct {
	Name     string
	Latency  time.Duration
	Failures int
	Down     bool
}

// Status reports every upstream's health, in configuration order.
func (g *Group) Status() []Status {
	now := time.Now()
	out := make([]Status, len(g.members))
	for i, mb := range g.members {
		mb.mu.Lock()
		out[i] = Status{mb.up.String(), mb.latency, mb.failures, now.Before(mb.downUntil)}
		mb.mu.Unlock()
	}
	return out
}
