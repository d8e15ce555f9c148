// Package resolver answers LAN clients: listeners, the per-query pipeline
// (access control, local answers, blocklist, cache, upstream) and the cache.
package resolver

import (
	"context"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/dnsward/dnsward/querylog"
	"github.com/miekg/dns"
)

// Query is one client question travelling down the pipeline; stages record
// on it where its answer came from, for the query log.
type Query struct {
	Req    *dns.Msg
	Client netip.AddrPort
	Proto  string // "udp" or "tcp"
	Start  time.Time

	// Source is the stage that produced the answer, set by that stage.
	Source    Source
	Upstream  string
	BlockList string
	BlockRule string
	// Err is why the pipeline failed, when the answer is its SERVFAIL.
	Err error
	// RebindAddr is the private address of an upstream answer refused as
	// DNS rebinding.
	RebindAddr netip.Addr

	// hit is the cache's result when the answer is a cache entry's shared
	// message: the server replies from its wire form, counted down by age,
	// instead of copying it.
	hit cacheHit
	// wireReply is set when the reply was the hit's wire form, and kept
	// when Keep was called: a UDP query that is one and not the other is
	// reused for the reader's next datagram.
	wireReply, kept bool
}

// Keep says that q, or its request, is kept past the server's Done
// callback, so that the server does not reuse them for another query: a
// caller that hands LogEntry's entry, which holds the request, to a query
// log with a sink calls it.
func (q *Query) Keep() { q.kept = true }

// cacheHit is the cache entry a query was answered from and how long, in
// whole seconds, it had been held.
type cacheHit struct {
	entry *cacheEntry
	age   uint32
}

// Deferred is the error a stage returns when its answer must wait on an
// upstream. The stages before it hand it back, wrapped by Then when they
// check the answer, and the server runs Wait once: in a worker for UDP, so
// the reader goes on, and in place for TCP. No stage sees a query twice.
// It is returned as is, never wrapped, so a type assertion finds it.
type Deferred struct {
	// Wait runs the rest of the query, once.
	Wait func(ctx context.Context) (*dns.Msg, error)
}

// Error says what the deferral is, for a caller that does not run it.
func (d *Deferred) Error() string { return "answer deferred until an upstream replies" }

// Then defers the answer of d passed through check, which is skipped when
// Wait fails.
func (d *Deferred) Then(check func(*dns.Msg) *dns.Msg) *Deferred {
	return &Deferred{Wait: func(ctx context.Context) (*dns.Msg, error) {
		m, err := d.Wait(ctx)
		if err != nil {
			return m, err
		}
		return check(m), nil
	}}
}

// Resolve asks stage for q's answer and, when it is deferred, waits for it
// in place.
func Resolve(ctx context.Context, stage Stage, q *Query) (*dns.Msg, error) {
	m, err := stage.Answer(ctx, q)
	if d, ok := err.(*Deferred); ok {
		return d.Wait(ctx)
	}
	return m, err
}

// Question is the query's only question; the server rejects others.
func (q *Query) Question() dns.Question { return q.Req.Question[0] }

// DO reports whether the client asked for DNSSEC records.
func (q *Query) DO() bool {
	opt := q.Req.IsEdns0()
	return opt != nil && opt.Do()
}

// Stage is one step of the pipeline. It returns the answer, or passes the
// query to the next stage it holds.
type Stage interface {
	Answer(ctx context.Context, q *Query) (*dns.Msg, error)
}

// reply starts a response to q with the given rcode.
func reply(q *Query, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(q.Req, rcode)
	return m
}

// LogEntry is the query log's view of the query answered with resp.
func (q *Query) LogEntry(resp *dns.Msg) querylog.Entry {
	var question dns.Question
	if len(q.Req.Question) > 0 {
		question = q.Req.Question[0]
	}
	return querylog.Entry{
		Time:       q.Start,
		Proto:      q.Proto,
		Client:     q.Client,
		Question:   question,
		Request:    q.Req,
		Response:   resp,
		Rcode:      resp.Rcode,
		Source:     q.Source.String(),
		Upstream:   q.Upstream,
		Latency:    time.Since(q.Start),
		Age:        q.age(resp),
		BlockList:  q.BlockList,
		BlockRule:  q.BlockRule,
		Error:      errorText(q.Err),
		RebindAddr: q.RebindAddr,
	}
}

// fromCache says whether resp is the shared message of the cache entry q
// was answered from, whose TTLs must still be counted down by its age.
func (q *Query) fromCache(resp *dns.Msg) bool {
	return q.hit.entry != nil && resp == q.hit.entry.msg
}

// RepeatMark is a word kept with the cache entry resp is, for a consumer
// of every answer (the answer index) to note there what it last saw and
// skip the repeats of a cache entry, which carry nothing new; nil when
// resp is not a cache entry.
func (q *Query) RepeatMark(resp *dns.Msg) *atomic.Uint64 {
	if !q.fromCache(resp) {
		return nil
	}
	return &q.hit.entry.mark
}

// age is how much the TTLs of resp must be counted down.
func (q *Query) age(resp *dns.Msg) uint32 {
	if q.fromCache(resp) {
		return q.hit.age
	}
	return 0
}

func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
