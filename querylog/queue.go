package querylog

import "sync"

// queue hands entries from any goroutine to the single encoder. It is a
// slice the encoder swaps for an empty one, so that the query path and the
// encoder meet once per swap, not at every entry as they did on a
// channel's lock, which cost cache hits about a third of their rate with
// the query log on.
type queue[T any] struct {
	mu    sync.Mutex
	items []T
	max   int
	// ready holds a token while items may be non-empty: put leaves one
	// when it makes the queue non-empty, so the encoder can sleep on it.
	ready chan struct{}
}

func newQueue[T any](max int) *queue[T] {
	return &queue[T]{max: max, ready: make(chan struct{}, 1)}
}

// put appends v, or returns false when the queue holds max items.
func (q *queue[T]) put(v T) bool {
	q.mu.Lock()
	if len(q.items) >= q.max {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, v)
	first := len(q.items) == 1
	q.mu.Unlock()
	if first {
		select {
		case q.ready <- struct{}{}:
		default:
		}
	}
	return true
}

// take returns the items queued and leaves spare, emptied, in their place.
func (q *queue[T]) take(spare []T) []T {
	q.mu.Lock()
	items := q.items
	q.items = spare[:0]
	q.mu.Unlock()
	return items
}

// len is how many items are queued.
func (q *queue[T]) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}
