// Package swapq hands items from any goroutine to one consumer through a
// slice the consumer swaps for an empty one, so that producers on the
// query path and the consumer meet once per swap, not at every item as on
// a channel's lock.
package swapq

import "sync"

// Queue is a bounded queue of items for one consumer. Its methods are safe
// for concurrent use.
type Queue[T any] struct {
	mu    sync.Mutex
	items []T
	max   int
	// ready holds a token while items may be non-empty: Put leaves one
	// when it makes the queue non-empty, so the consumer can sleep on it.
	ready chan struct{}
}

// New returns an empty queue that holds at most max items.
func New[T any](max int) *Queue[T] {
	return &Queue[T]{max: max, ready: make(chan struct{}, 1)}
}

// Put appends v, or returns false when the queue holds max items.
func (q *Queue[T]) Put(v T) bool {
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

// Take returns the items queued and leaves spare, emptied, in their place.
func (q *Queue[T]) Take(spare []T) []T {
	q.mu.Lock()
	items := q.items
	q.items = spare[:0]
	q.mu.Unlock()
	return items
}

// Ready receives a token once the queue may hold items: a consumer that
// does not drain on a timer waits on it, then Takes.
func (q *Queue[T]) Ready() <-chan struct{} { return q.ready }

// Len is how many items are queued.
func (q *Queue[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}
