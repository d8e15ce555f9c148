// Package web serves dnsward's read-only page and the JSON and
// server-sent-event API that feeds it: figures over the last hour and day,
// top clients and names, the live query stream, "who is this IP" and "why
// is this name blocked". It keeps its own figures in memory, bounded; it
// changes nothing in the resolver.
package web

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dnsward/dnsward/config"
	"github.com/dnsward/dnsward/internal/swapq"
	"github.com/dnsward/dnsward/metrics"
	"golang.org/x/crypto/bcrypt"
)

// Config is the web section translated.
type Config struct {
	User         string
	PasswordHash []byte // bcrypt
	Token        string
}

// FromConfig is the package's part of c.
func FromConfig(c config.Web) Config {
	cfg := Config{User: c.User, Token: c.Token}
	if c.PasswordHash != "" {
		cfg.PasswordHash = []byte(c.PasswordHash)
	}
	return cfg
}

// ConfigProblems is a config.Checker: a password_hash bcrypt cannot read.
func ConfigProblems(c *config.Config) []config.Problem {
	if h := c.Web.PasswordHash; h != "" {
		if _, err := bcrypt.Cost([]byte(h)); err != nil {
			return []config.Problem{{Key: "web.password_hash", Err: fmt.Errorf("not a bcrypt hash (make one with htpasswd -nbB USER PASSWORD): %w", err)}}
		}
	}
	return nil
}

// Event is one answered query as the page shows it.
type Event struct {
	Time      time.Time  `json:"time"`
	Client    netip.Addr `json:"client"`
	Host      string     `json:"host,omitempty"`
	Name      string     `json:"name"`
	Type      string     `json:"type"`
	Source    string     `json:"source"`
	Rcode     string     `json:"rcode"`
	Upstream  string     `json:"upstream,omitempty"`
	BlockList string     `json:"block_list,omitempty"`
	BlockRule string     `json:"block_rule,omitempty"`
	LatencyMS float64    `json:"latency_ms"`
}

// Why is why a name is blocked, or not, for a client.
type Why struct {
	Name    string `json:"name"`
	Client  string `json:"client,omitempty"`
	Blocked bool   `json:"blocked"`
	// List and Rule are the blocking rule, or the allow rule that spares
	// the name when Blocked is false; empty when no list names it.
	List string `json:"list,omitempty"`
	Rule string `json:"rule,omitempty"`
}

// Flow is one flow record as the client page shows it.
type Flow struct {
	Time        time.Time  `json:"time"`
	Client      netip.Addr `json:"client"`
	Dest        string     `json:"dest"` // addr:port
	Proto       string     `json:"proto"`
	Verdict     string     `json:"verdict"`
	Attribution string     `json:"attribution"` // same_client, other_client, no_lookup
	Names       []string   `json:"names,omitempty"`
	Repeats     int        `json:"repeats,omitempty"`
}

// Sources are what the engine lends the page.
type Sources struct {
	// Totals reads the metrics' counters.
	Totals func() (metrics.Totals, error)
	// Who answers GET /api/who (the answer index, or the log files).
	Who http.HandlerFunc
	// Why matches name against the block stage for client (may be invalid).
	Why func(name string, client netip.Addr) Why
}

// Sizes bound the memory the page's figures take.
const (
	inQueue      = 16384 // events waiting for the tally: 160k qps for drainEvery
	drainEvery   = 100 * time.Millisecond
	recentEvents = 2000 // kept for the client page
	recentFlows  = 1000 // flow records kept for the client page
	subscriberQ  = 256  // events waiting for one stream subscriber, a second of its batches
)

// Web keeps the page's figures and serves it. Observe may be called from
// any goroutine; Run owns the goroutine that tallies.
type Web struct {
	cfg Config
	src Sources
	// in holds the events since the last drain, which swaps it for
	// spare: the query path meets the tally only at the swap.
	in      *swapq.Queue[Event]
	spare   []Event
	dropped atomic.Uint64 // events the tally had no room for
	// verified is the digest of the last Authorization header bcrypt
	// accepted: bcrypt takes tens of milliseconds, too long for every poll.
	verified atomic.Pointer[[sha256.Size]byte]
	started  time.Time
	now      func() time.Time

	series *series
	tops   *tops
	// flows are the last flow records, when a flow source is on.
	flowsMu sync.Mutex
	flows   ring[Flow]
	hub     *hub
}

// New makes the page's state; Run must run for it to fill.
func New(cfg Config, src Sources) *Web {
	now := time.Now
	return &Web{
		cfg: cfg, src: src, in: swapq.New[Event](inQueue), started: now(), now: now,
		series: newSeries(), tops: newTops(), hub: newHub(), flows: newRing[Flow](recentFlows),
	}
}

// Observe hands one answered query to the tally without ever blocking:
// when the tally lags the event is dropped and counted.
func (w *Web) Observe(ev Event) {
	if !w.in.Put(ev) {
		w.dropped.Add(1)
	}
}

// ObserveFlow keeps one flow record for the client page. Flow records
// come at most flows.rate a second, from the flow pipeline, not the
// query path.
func (w *Web) ObserveFlow(f Flow) {
	w.flowsMu.Lock()
	w.flows.push(f)
	w.flowsMu.Unlock()
}

// clientFlows is a client's flow records held, unexplained (no_lookup)
// first, then newest first.
func (w *Web) clientFlows(client netip.Addr) []Flow {
	w.flowsMu.Lock()
	all := w.flows.all()
	w.flowsMu.Unlock()
	var out []Flow
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Client == client {
			out = append(out, all[i])
		}
	}
	slices.SortStableFunc(out, func(a, b Flow) int {
		return cmp.Compare(b2i(a.Attribution != "no_lookup"), b2i(b.Attribution != "no_lookup"))
	})
	return out
}

// b2i is 1 for true.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Run tallies events every drainEvery and samples the counters every ten
// seconds (after the first Sample) until ctx is done. It drains on a timer rather than waiting on
// the queue so that a query never has to wake it: Observe is then a send
// into a buffer, with no goroutine switch.
func (w *Web) Run(ctx context.Context) {
	drain := time.NewTicker(drainEvery)
	defer drain.Stop()
	t := time.NewTicker(hourStep)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-drain.C:
			w.drain()
		case <-t.C:
			w.Sample()
		}
	}
}

// drain tallies what was queued since the last drain, at most a queue's
// worth, so that a flood cannot keep it from sampling.
func (w *Web) drain() {
	evs := w.in.Take(w.spare)
	w.tops.addAll(evs)
	w.hub.publish(evs)
	clear(evs) // the names go with the events
	w.spare = evs[:0]
}

// Sample takes the counters into the hour's and day's series; Run does so
// every ten seconds. The engine calls it once before it serves, so that
// the first step's baseline comes before every query: taken by Run while
// a query was under way, it could count that query's cache miss but not
// the query.
func (w *Web) Sample() {
	if t, err := w.src.Totals(); err == nil {
		w.series.add(w.now(), t)
	}
}

// equal compares secrets in constant time.
func equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
