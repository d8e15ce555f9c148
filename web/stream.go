package web

import (
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
)

// filter is what a stream subscriber or a client page asks for; a zero
// field accepts every value.
type filter struct {
	client netip.Addr
	suffix string // a name suffix, without the final dot
	source string // blocked, cache, upstream, stale, refused...
}

func (f filter) keep(ev *Event) bool {
	return (!f.client.IsValid() || ev.Client == f.client) &&
		(f.source == "" || ev.Source == f.source) &&
		(f.suffix == "" || ev.Name == f.suffix || strings.HasSuffix(ev.Name, "."+f.suffix))
}

// subscriber is one open stream: a bounded queue the tally fills without
// waiting, dropping (and counting) what a slow reader has no room for.
type subscriber struct {
	f       filter
	c       chan Event
	dropped atomic.Uint64
}

// hub hands every event to the open streams.
type hub struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
}

func newHub() *hub { return &hub{subs: map[*subscriber]struct{}{}} }

func (h *hub) subscribe(f filter) *subscriber {
	s := &subscriber{f: f, c: make(chan Event, subscriberQ)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
}

// publish hands the events of one drain to the open streams, never
// blocking: it runs on the tally's goroutine. A stream whose queue is
// full has the rest of its events counted as dropped at once.
func (h *hub) publish(evs []Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		var dropped uint64
		for i := range evs {
			if !s.f.keep(&evs[i]) {
				continue
			}
			select {
			case s.c <- evs[i]:
			default:
				dropped++
			}
		}
		if dropped > 0 {
			s.dropped.Add(dropped)
		}
	}
}
