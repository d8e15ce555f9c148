package web

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/dnsward/dnsward/metrics"
)

// TestTopsCapped fills a bucket past maxKeys: the names past the cap are
// counted as other, the names already held keep counting, and buckets
// older than the span are left out.
func TestTopsCapped(t *testing.T) {
	tp := newTops()
	start := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	client := netip.MustParseAddr("192.168.1.20")
	ev := func(at time.Time, name, source string) Event {
		return Event{Time: at, Client: client, Name: name, Source: source, BlockList: "ads"}
	}
	var evs []Event
	for i := range maxKeys + 10 {
		evs = append(evs, ev(start, fmt.Sprintf("n%d.example", i), "upstream"))
	}
	tp.addAll(append(evs, ev(start, "n0.example", "upstream"),
		ev(start.Add(time.Minute), "ads.example", "blocked"), // past the cap: other
		ev(start.Add(20*time.Minute), "ads.example", "blocked")))

	got := tp.top(false, 2, start.Add(-time.Hour))
	if got.Other != 11 || got.Names[0] != (Count{Key: "n0.example", Count: 2}) || got.Clients[0].Count != maxKeys+13 {
		t.Errorf("hour: other %d, names %+v, clients %+v", got.Other, got.Names, got.Clients)
	}
	if len(got.Blocked) != 1 || got.Blocked[0] != (Count{Key: "ads.example", List: "ads", Count: 2}) {
		t.Errorf("hour: blocked %+v", got.Blocked)
	}
	// At 11:25 the hour starts at 10:25: only the bucket of 10:20 is in it.
	got = tp.top(false, 2, start.Add(25*time.Minute))
	if got.Other != 0 || len(got.Names) != 1 || got.Names[0] != (Count{Key: "ads.example", Count: 1}) {
		t.Errorf("later: %+v", got)
	}
}

// TestSeriesPoints checks the points between snapshots, a missed tick
// widening a point rather than losing its queries.
func TestSeriesPoints(t *testing.T) {
	s := newSeries()
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	s.add(at, metrics.Totals{})
	s.add(at.Add(10*time.Second), metrics.Totals{Queries: 100, Blocked: 10, CacheHits: 60, CacheMisses: 30,
		UpstreamExchanges: 30, UpstreamErrors: 3, UpstreamSeconds: 0.6, LogQueued: 5})
	now := snapshot{at.Add(30 * time.Second), metrics.Totals{Queries: 300, Blocked: 10, CacheHits: 260, CacheMisses: 30,
		UpstreamExchanges: 30, UpstreamErrors: 3, UpstreamSeconds: 0.6}}
	pts := s.points(false, now)
	want := []Point{
		{Time: at.Add(10 * time.Second), Seconds: 10, Queries: 100, QPS: 10, HitRatio: 60.0 / 90, BlockedShare: 0.1,
			UpstreamMS: 20, UpstreamErrs: 3, UpstreamCalls: 30, LogQueued: 5},
		{Time: now.at, Seconds: 20, Queries: 200, QPS: 10, HitRatio: 1},
	}
	if len(pts) != len(want) {
		t.Fatalf("%d points, want %d: %+v", len(pts), len(want), pts)
	}
	for i := range want {
		if pts[i] != want[i] {
			t.Errorf("point %d: %+v, want %+v", i, pts[i], want[i])
		}
	}
	if day := s.points(true, now); len(day) != 1 || day[0].Queries != 300 {
		t.Errorf("day: %+v", day)
	}
	if last := s.since(now.at.Add(-time.Minute), now); last.Queries != 300 {
		t.Errorf("last minute: %+v", last)
	}
}
