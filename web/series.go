package web

import (
	"sync"
	"time"

	"github.com/dnsward/dnsward/metrics"
)

// The series keep snapshots of the counters, not rates: a point is the
// difference of two snapshots, so a missed tick widens a point instead of
// losing its queries. An hour of 10 s steps and a day of 5 min steps.
const (
	hourStep   = 10 * time.Second
	hourPoints = 360
	dayStep    = 5 * time.Minute
	dayPoints  = 288
)

// snapshot is the counters at one time.
type snapshot struct {
	at time.Time
	t  metrics.Totals
}

// series is the hour's and the day's snapshots.
type series struct {
	mu        sync.Mutex
	hour, day ring[snapshot]
}

func newSeries() *series {
	return &series{
		hour: newRing[snapshot](hourPoints + 1),
		day:  newRing[snapshot](dayPoints + 1),
	}
}

// add keeps t as of at: always in the hour, in the day once a day step
// has passed since its last.
func (s *series) add(at time.Time, t metrics.Totals) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hour.push(snapshot{at, t})
	if last, ok := s.day.last(); !ok || at.Sub(last.at) >= dayStep {
		s.day.push(snapshot{at, t})
	}
}

// Point is the figures between two snapshots.
type Point struct {
	Time          time.Time `json:"time"` // the end of the step
	Seconds       float64   `json:"seconds"`
	Queries       uint64    `json:"queries"`
	QPS           float64   `json:"qps"`
	HitRatio      float64   `json:"hit_ratio"`     // cache hits / lookups, 0..1
	BlockedShare  float64   `json:"blocked_share"` // blocked / queries, 0..1
	UpstreamMS    float64   `json:"upstream_ms"`   // mean exchange time
	UpstreamErrs  uint64    `json:"upstream_errors"`
	LogQueued     uint64    `json:"log_queued"`
	LogSpooled    uint64    `json:"log_spooled_bytes"`
	LogDropped    uint64    `json:"log_dropped"`
	UpstreamCalls uint64    `json:"upstream_exchanges"`
}

// between is the point from a to b.
func between(a, b snapshot) Point {
	p := Point{Time: b.at, Seconds: b.at.Sub(a.at).Seconds(), Queries: b.t.Queries - a.t.Queries,
		UpstreamErrs: b.t.UpstreamErrors - a.t.UpstreamErrors, UpstreamCalls: b.t.UpstreamExchanges - a.t.UpstreamExchanges,
		LogQueued: b.t.LogQueued, LogSpooled: b.t.LogSpooled, LogDropped: b.t.LogDropped - a.t.LogDropped}
	if p.Seconds > 0 {
		p.QPS = float64(p.Queries) / p.Seconds
	}
	if lookups := b.t.CacheHits + b.t.CacheMisses - a.t.CacheHits - a.t.CacheMisses; lookups > 0 {
		p.HitRatio = float64(b.t.CacheHits-a.t.CacheHits) / float64(lookups)
	}
	if p.Queries > 0 {
		p.BlockedShare = float64(b.t.Blocked-a.t.Blocked) / float64(p.Queries)
	}
	if p.UpstreamCalls > 0 {
		p.UpstreamMS = (b.t.UpstreamSeconds - a.t.UpstreamSeconds) * 1000 / float64(p.UpstreamCalls)
	}
	return p
}

// points is the day's or the hour's points, the last ending at now with
// the counters now: the page shows the step under way too.
func (s *series) points(day bool, now snapshot) []Point {
	s.mu.Lock()
	snaps := s.hour.all()
	if day {
		snaps = s.day.all()
	}
	s.mu.Unlock()
	snaps = append(snaps, now)
	out := make([]Point, 0, len(snaps)-1)
	for i := 1; i < len(snaps); i++ {
		out = append(out, between(snaps[i-1], snaps[i]))
	}
	return out
}

// since is the point from the snapshot held at or before from to now.
func (s *series) since(from time.Time, now snapshot) Point {
	s.mu.Lock()
	snaps := s.hour.all()
	s.mu.Unlock()
	if len(snaps) == 0 {
		return Point{Time: now.at}
	}
	a := snaps[0]
	for _, sn := range snaps {
		if sn.at.After(from) {
			break
		}
		a = sn
	}
	return between(a, now)
}
