package web

import (
	"cmp"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// maxKeys caps each map of a bucket: a name first seen when its map is
// full is counted under Other, not kept. Capped maps rather than a
// count-min sketch because the page lists the keys, which a sketch
// forgets; the busy keys arrive early in a bucket and keep their place.
// At most (6+24 buckets) x 3 maps x maxKeys keys: about 100k.
const maxKeys = 1024

// counts is one bucket's tallies.
type counts struct {
	start   time.Time
	clients map[netip.Addr]uint64
	names   map[string]uint64
	blocked map[blockKey]uint64
	other   uint64
}

// blockKey is a blocked name and the list that blocked it.
type blockKey struct{ name, list string }

func newCounts(start time.Time) *counts {
	return &counts{start: start, clients: map[netip.Addr]uint64{}, names: map[string]uint64{}, blocked: map[blockKey]uint64{}}
}

// bump counts k in m, or under other once m is full.
func bump[K comparable](m map[K]uint64, k K, other *uint64) {
	if _, ok := m[k]; ok || len(m) < maxKeys {
		m[k]++
		return
	}
	*other++
}

func (c *counts) add(ev *Event) {
	bump(c.clients, ev.Client, &c.other)
	bump(c.names, ev.Name, &c.other)
	if ev.Source == "blocked" {
		bump(c.blocked, blockKey{ev.Name, ev.BlockList}, &c.other)
	}
}

// window is a span cut into buckets of step, newest last.
type window struct {
	step    time.Duration
	n       int
	buckets []*counts
}

func (w *window) add(at time.Time, ev *Event) {
	start := at.Truncate(w.step)
	if len(w.buckets) == 0 || w.buckets[len(w.buckets)-1].start.Before(start) {
		w.buckets = append(w.buckets, newCounts(start))
		if len(w.buckets) > w.n {
			w.buckets = slices.Delete(w.buckets, 0, len(w.buckets)-w.n)
		}
	}
	w.buckets[len(w.buckets)-1].add(ev)
}

// tops is the hour's and the day's tallies and the last events.
type tops struct {
	mu     sync.Mutex
	hour   window
	day    window
	recent ring[Event]
}

func newTops() *tops {
	return &tops{hour: window{step: 10 * time.Minute, n: 6}, day: window{step: time.Hour, n: 24}, recent: newRing[Event](recentEvents)}
}

func (t *tops) addAll(evs []Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range evs {
		ev := &evs[i]
		t.hour.add(ev.Time, ev)
		t.day.add(ev.Time, ev)
		t.recent.push(*ev)
	}
}

// Count is one line of a top list.
type Count struct {
	Key   string `json:"key"`
	List  string `json:"list,omitempty"` // for blocked names: the list that blocked it
	Count uint64 `json:"count"`
}

// Top is the top lists of a span.
type Top struct {
	Span    string  `json:"span"`
	Since   string  `json:"since,omitempty"` // the oldest bucket's start, RFC 3339
	Clients []Count `json:"clients"`
	Names   []Count `json:"names"`
	Blocked []Count `json:"blocked"`
	// Other is the queries counted under no key: a bucket was full.
	Other uint64 `json:"other"`
}

// top is the n busiest of each list over the buckets of the hour or day
// that started after since.
func (t *tops) top(day bool, n int, since time.Time) Top {
	t.mu.Lock()
	defer t.mu.Unlock()
	w, span := &t.hour, "hour"
	if day {
		w, span = &t.day, "day"
	}
	clients, names, blocked := map[netip.Addr]uint64{}, map[string]uint64{}, map[blockKey]uint64{}
	out := Top{Span: span}
	for _, b := range w.buckets {
		if b.start.Add(w.step).Before(since) {
			continue
		}
		if out.Since == "" {
			out.Since = b.start.Format(time.RFC3339)
		}
		for k, v := range b.clients {
			clients[k] += v
		}
		for k, v := range b.names {
			names[k] += v
		}
		for k, v := range b.blocked {
			blocked[k] += v
		}
		out.Other += b.other
	}
	out.Clients = largest(clients, n, func(k netip.Addr) Count { return Count{Key: k.String()} })
	out.Names = largest(names, n, func(k string) Count { return Count{Key: k} })
	out.Blocked = largest(blocked, n, func(k blockKey) Count { return Count{Key: k.name, List: k.list} })
	return out
}

// largest is the n largest of m, the busiest first, ties by key.
func largest[K comparable](m map[K]uint64, n int, line func(K) Count) []Count {
	out := make([]Count, 0, len(m))
	for k, v := range m {
		c := line(k)
		c.Count = v
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Count) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Key, b.Key), cmp.Compare(a.List, b.List))
	})
	return out[:min(n, len(out))]
}

// last is up to n of the recent events keep accepts, newest first.
func (t *tops) last(n int, keep func(*Event) bool) []Event {
	t.mu.Lock()
	all := t.recent.all()
	t.mu.Unlock()
	var out []Event
	for i := len(all) - 1; i >= 0 && len(out) < n; i-- {
		if keep(&all[i]) {
			out = append(out, all[i])
		}
	}
	return out
}
