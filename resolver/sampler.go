package resolver

import (
	"sync"
	"time"
)

// failLogEvery is the least time between two "query failed" lines: an
// upstream outage fails every query, each of which the query log records,
// and a line per query would bury the rest of the service's log.
const failLogEvery = 10 * time.Second

// sampler lets one event per period through and counts the others.
type sampler struct {
	mu      sync.Mutex
	next    time.Time
	skipped int
}

// allow reports whether the event at now goes through and, when it does,
// how many were held back since the last one that did.
func (s *sampler) allow(now time.Time, period time.Duration) (skipped int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Before(s.next) {
		s.skipped++
		return 0, false
	}
	skipped, s.skipped, s.next = s.skipped, 0, now.Add(period)
	return skipped, true
}
