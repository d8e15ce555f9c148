// Package resolver answers LAN clients: listeners, the per-query pipeline
// (access control, local answers, blocklist, cache, upstream) and the cache.
package resolver

import (
	"context"
	"errors"
	"net/netip"
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

	Source    string // "cache", "upstream", "blocked", "local", "refused"…
	Upstream  string
	BlockList string
	BlockRule string
	// Err is why the pipeline failed, when the answer is its SERVFAIL.
	Err error
	// RebindAddr is the private address of an upstream answer refused as
	// DNS rebinding.
	RebindAddr netip.Addr

	// NoWait asks for an answer only if one can be given without waiting
	// on an upstream; otherwise the pipeline fails with ErrWouldWait and
	// the query is asked again with NoWait off.
	NoWait bool
	// Cached is the cache entry the answer came from; when the answer is
	// its shared message, Age is how long it had been held, and the TTLs
	// sent are counted down by it.
	Cached *cacheEntry
	Age    uint32
	// admitted records that the rate limit let the query in, so asking
	// again after ErrWouldWait does not spend a second token.
	admitted bool
}

// ErrWouldWait is the pipeline's answer to a NoWait query it can only
// answer by asking an upstream.
var ErrWouldWait = errors.New("answer needs an upstream")

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
		Source:     q.Source,
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
// was answered from, whose TTLs must still be counted down by q.Age.
func (q *Query) fromCache(resp *dns.Msg) bool {
	return q.Cached != nil && resp == q.Cached.msg
}

// age is how much the TTLs of resp must be counted down.
func (q *Query) age(resp *dns.Msg) uint32 {
	if q.fromCache(resp) {
		return q.Age
	}
	return 0
}

func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
