package upstream

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// ewmaWeight is the share of the newest sample in the latency average.
const ewmaWeight = 0.2

// maxBackoff caps the wait between probes of a failing upstream.
const maxBackoff = 30 * time.Second

// outageProbe is the most a known-down upstream waits for its next probe
// while every upstream is known down: no query is answered from upstream
// until one of them answers a probe, so there is no load to spare it.
const outageProbe = time.Second

// probeTick is how often Run looks for upstreams due a probe.
const probeTick = 250 * time.Millisecond

// rounds bounds how often every upstream is tried for one query.
const rounds = 3

// firstTry is the least a first try waits, however fast the upstream.
const firstTry = 250 * time.Millisecond

// Group sends each query to its fastest healthy upstream and fails over to
// the next on error or timeout. A failed upstream is tried last by queries
// and probed in the background until it answers again; while every
// upstream is known down, queries fail at once with ErrAllDown.
type Group struct {
	members []*member
	closed  atomic.Bool
	// attempt bounds one upstream's try, so a silent upstream leaves time
	// for the others within the caller's deadline.
	attempt time.Duration
	// OnExchange, when set before use, is told about every exchange.
	OnExchange func(upstream string, took time.Duration, err error)
	// OnMessages, when set before use, is handed every exchange's query
	// and response (nil when none came), with when each went and came:
	// dnstap's forwarder messages. It must not change them.
	OnMessages func(up Upstream, q, r *dns.Msg, sent, done time.Time)
	// Logger, when set before use, is told when an upstream starts failing
	// and when it answers again: once each, however many queries it fails.
	Logger *slog.Logger
}

type member struct {
	up Upstream
	// busy is held by Run's upkeep of this upstream, so that a hung
	// upstream's probes neither pile up nor hold up the others'.
	busy atomic.Bool

	mu      sync.Mutex
	latency time.Duration // EWMA of successful exchanges
	// failures counts the failed exchanges in a row, leaving out those
	// sent before the latest answer arrived (see record).
	failures   int
	downSince  time.Time // when the first of those failures ended
	reported   bool      // the log was told it failed
	answered   time.Time // when the latest answer arrived
	probeFails int       // failed probes since then
	probed     time.Time // when the latest failed probe ended
	lastErr    error
	queries    uint64
	errors     uint64
}

// ErrAllDown is returned, wrapped with each upstream's last error, while
// every upstream of a group is known down: waiting for them would only
// delay the client's SERVFAIL (or stale answer).
var ErrAllDown = errors.New("every upstream is down; probing them in the background")

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
// when no upstream does better. When every upstream fails, they are tried
// again, up to rounds times within ctx, so one lost datagram costs the
// client a retry rather than its answer. While every upstream is known
// down it fails at once with ErrAllDown, asking none of them.
func (g *Group) Exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, Upstream, error) {
	if g.closed.Load() {
		// Not tried: its upstreams' ErrClosed would count as failures.
		return nil, nil, fmt.Errorf("upstream group: %w", ErrClosed)
	}
	if err := g.outage(); err != nil {
		return nil, nil, err
	}
	var errs []error
	for round := range rounds {
		errs = errs[:0]
		var fallback *dns.Msg
		var fallbackFrom Upstream
		for _, mb := range g.order() {
			if ctx.Err() != nil {
				// Named, as every other upstream's error is: the log
				// line must say which upstreams the query never reached.
				errs = append(errs, fmt.Errorf("%s: not asked: %w", mb.up, ctx.Err()))
				continue
			}
			wait := g.attempt
			if round == 0 {
				wait = mb.firstWait(wait)
			}
			r, err := g.try(ctx, mb, m, wait, false)
			if err == nil && (r.Rcode == dns.RcodeServerFailure || r.Rcode == dns.RcodeRefused) {
				fallback, fallbackFrom = r, mb.up
				continue
			}
			if err == nil {
				return r, mb.up, nil
			}
			errs = append(errs, err)
		}
		if fallback != nil {
			return fallback, fallbackFrom, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, nil, fmt.Errorf("all upstreams failed: %w", errors.Join(errs...))
}

// Close closes every upstream of the group; queries in flight end as they
// would have, later ones fail with ErrClosed. Run should be stopped first.
func (g *Group) Close() error {
	g.closed.Store(true)
	var errs []error
	for _, mb := range g.members {
		errs = append(errs, mb.up.Close())
	}
	return errors.Join(errs...)
}

// firstWait is how long a query's first try of mb waits: a few times its
// usual latency, so a lost datagram is retried soon. Later tries wait the
// whole attempt bound, for an upstream that is slow rather than lossy.
func (mb *member) firstWait(attempt time.Duration) time.Duration {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if mb.latency == 0 {
		return attempt
	}
	return min(attempt, max(firstTry, 4*mb.latency))
}

// try asks one upstream, waiting at most wait, and records the outcome;
// probe marks Run's probes, which alone can show an upstream known down.
func (g *Group) try(ctx context.Context, mb *member, m *dns.Msg, wait time.Duration, probe bool) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	sent := time.Now()
	r, err := mb.up.Exchange(ctx, m)
	failed := err
	if err == nil && (r.Rcode == dns.RcodeServerFailure || r.Rcode == dns.RcodeRefused) {
		failed = fmt.Errorf("%s: answered %s", mb.up, dns.RcodeToString[r.Rcode])
	}
	done := time.Now()
	g.logChange(mb, failed, mb.record(sent, done, failed, probe))
	if g.OnExchange != nil {
		g.OnExchange(mb.up.String(), done.Sub(sent), failed)
	}
	if g.OnMessages != nil {
		g.OnMessages(mb.up, m, r, sent, done)
	}
	return r, err
}

// Run probes failed upstreams with backoff until ctx is done, so that
// finding out whether one has recovered never costs a client its time.
// Each upstream's upkeep runs on its own, so a hung one delays no other.
func (g *Group) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(probeTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			outage := g.outage() != nil
			for _, mb := range g.members {
				if mb.busy.Swap(true) {
					continue
				}
				wg.Go(func() {
					defer mb.busy.Store(false)
					g.upkeep(ctx, mb, now, outage)
				})
			}
		}
	}
}

// upkeep does an upstream's background upkeep and probes it when due.
func (g *Group) upkeep(ctx context.Context, mb *member, now time.Time, outage bool) {
	if m, ok := mb.up.(maintainer); ok {
		m.Maintain(ctx)
	}
	if mb.dueProbe(now, outage) {
		probe := new(dns.Msg).SetQuestion(".", dns.TypeNS)
		_, _ = g.try(ctx, mb, probe, g.attempt, true)
	}
}

// outage returns ErrAllDown, with every upstream's last error, when every
// upstream is known down, and nil otherwise.
func (g *Group) outage() error {
	var errs []error
	for _, mb := range g.members {
		mb.mu.Lock()
		out, err := mb.knownDown(), mb.lastErr
		mb.mu.Unlock()
		if !out {
			return nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrAllDown, errors.Join(errs...))
}

// maintainer is an upstream with background upkeep, such as re-fetching a
// DNSCrypt certificate.
type maintainer interface {
	Maintain(ctx context.Context)
}

// order puts healthy upstreams first, fastest first; an upstream never
// measured counts as fastest so that it gets measured. Failed upstreams
// come last: tried only when every healthy one has failed this query.
func (g *Group) order() []*member {
	type ranked struct {
		mb      *member
		down    bool
		latency time.Duration
	}
	rs := make([]ranked, len(g.members))
	for i, mb := range g.members {
		mb.mu.Lock()
		rs[i] = ranked{mb, mb.failures > 0, mb.latency}
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

// reportAfter is how many exchanges in a row must fail before the log is
// told: one lost datagram is not an outage worth a line.
const reportAfter = 3

// change is what one exchange did to an upstream's health, as the log is
// told of it.
type change struct {
	wentDown, cameBack bool
	failures           int           // failed exchanges while down, when it came back
	downFor            time.Duration // when it came back
}

// record notes one exchange, sent and done at the times given. A failure
// of an exchange sent before the latest answer arrived is left out: the
// upstream has answered since, so it says nothing about the upstream now.
// This is the log's hysteresis: when a hung upstream comes back, the
// exchanges still in flight from the outage fail after its first answer,
// and counting them would report it failing again, then back, over and
// over, until they had all timed out.
func (mb *member) record(sent, done time.Time, err error, probe bool) change {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	mb.queries++
	if err != nil {
		mb.errors++
		if sent.Before(mb.answered) {
			return change{}
		}
		if mb.failures == 0 {
			mb.downSince = done
		}
		mb.failures++
		mb.lastErr = err
		if probe {
			mb.probeFails++
			mb.probed = done
		}
		c := change{wentDown: mb.failures >= reportAfter && !mb.reported}
		mb.reported = mb.reported || c.wentDown
		return c
	}
	var c change
	if mb.reported {
		c = change{cameBack: true, failures: mb.failures, downFor: done.Sub(mb.downSince)}
	}
	if done.After(mb.answered) {
		// Exchanges end out of order; the latest answer is what counts.
		mb.answered = done
	}
	mb.failures, mb.reported, mb.probeFails, mb.lastErr = 0, false, 0, nil
	took := done.Sub(sent)
	if mb.latency == 0 {
		mb.latency = took
	} else {
		mb.latency = time.Duration(ewmaWeight*float64(took) + (1-ewmaWeight)*float64(mb.latency))
	}
	return c
}

// knownDown is whether mb's failure was reported and a probe has failed
// since: an outage, not a few unlucky queries. mb.mu must be held.
func (mb *member) knownDown() bool {
	return mb.reported && mb.probeFails > 0
}

// logChange tells the logger when mb went down or came back.
func (g *Group) logChange(mb *member, err error, c change) {
	switch {
	case g.Logger == nil:
	case c.wentDown:
		g.Logger.Warn("upstream failing: tried after the others, and probed, until it answers again", "upstream", mb.up.String(), "failed_exchanges", reportAfter, "err", err)
	case c.cameBack:
		g.Logger.Info("upstream answering again", "upstream", mb.up.String(), "failed_exchanges", c.failures, "down_for", c.downFor.Round(time.Millisecond))
	}
}

// dueProbe is whether a failing mb is due a probe at now: a second after
// it failed, then with backoff after each failed probe, but at least every
// outageProbe while every upstream is known down.
func (mb *member) dueProbe(now time.Time, outage bool) bool {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if mb.failures == 0 {
		return false
	}
	from, wait := mb.downSince, time.Second
	if mb.probeFails > 0 {
		from, wait = mb.probed, min(time.Second<<min(mb.probeFails, 5), maxBackoff)
	}
	if outage {
		wait = min(wait, outageProbe)
	}
	return !now.Before(from.Add(wait))
}

// Status describes one upstream's health for logs and stats.
type Status struct {
	Name     string
	Latency  time.Duration
	Failures int
	Down     bool
	Queries  uint64
	Errors   uint64
}

// Status reports every upstream's health, in configuration order.
func (g *Group) Status() []Status {
	out := make([]Status, len(g.members))
	for i, mb := range g.members {
		mb.mu.Lock()
		out[i] = Status{mb.up.String(), mb.latency, mb.failures, mb.failures > 0, mb.queries, mb.errors}
		mb.mu.Unlock()
	}
	return out
}
