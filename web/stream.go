package web

import (
	"net/netip"
	"strings"
	"sync"
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
// A slice under a lock rather than a channel: the tally hands it a whole
// drain at once, and for an unfiltered stream, the page's own, it copies
// only what fits and counts the rest in one step, instead of a failed send
// for each of the drain's thousands of events.
type subscriber struct {
	f  filter
	mu sync.Mutex
	q  []Event // oldest first, at most subscriberQ
	// dropped counts the events f accepted that q had no room for.
	dropped uint64
}

// offer queues the events of one drain that f accepts and q has room for.
func (s *subscriber) offer(evs []Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	room := subscriberQ - len(s.q)
	if s.f == (filter{}) {
		n := min(room, len(evs))
		s.q = append(s.q, evs[:n]...)
		s.dropped += uint64(len(evs) - n)
		return
	}
	for i := range evs {
		switch {
		case !s.f.keep(&evs[i]):
		case room == 0:
			s.dropped++
		default:
			s.q = append(s.q, evs[i])
			room--
		}
	}
}

// take moves up to n of the oldest queued events into dst[:0] and
// returns them with the count dropped so far.
func (s *subscriber) take(dst []Event, n int) ([]Event, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n = min(n, len(s.q))
	dst = append(dst[:0], s.q[:n]...)
	left := copy(s.q, s.q[n:])
	clear(s.q[left:]) // the names go with the events
	s.q = s.q[:left]
	return dst, s.dropped
}

// hub hands every event to the open streams.
type hub struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
}

func newHub() *hub { return &hub{subs: map[*subscriber]struct{}{}} }

func (h *hub) subscribe(f filter) *subscriber {
	s := &subscriber{f: f, q: make([]Event, 0, subscriberQ)}
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
// blocking: it runs on the tally's goroutine.
func (h *hub) publish(evs []Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		s.offer(evs)
	}
}
