package resolver

import "sync"

// entryList holds the cache's entries kept unpacked, the least recently
// used evicted first. It replaced golang-lru, which allocates a list node
// per entry beside it, with an expiry time the cache does not use: here
// the list runs through the entries themselves.
type entryList struct {
	mu    sync.Mutex
	size  int
	items map[cacheKey]*cacheEntry
	// root.next is the most recently used entry, root.prev the least.
	root cacheEntry
}

func newEntryList(size int) *entryList {
	l := &entryList{size: max(size, 1), items: map[cacheKey]*cacheEntry{}}
	l.root.next, l.root.prev = &l.root, &l.root
	return l
}

// Get returns the entry for k, now the most recently used.
func (l *entryList) Get(k cacheKey) (*cacheEntry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.items[k]
	if ok {
		l.unlink(e)
		l.pushFront(e)
	}
	return e, ok
}

// Peek returns the entry for k, leaving the order of use as it is.
func (l *entryList) Peek(k cacheKey) (*cacheEntry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.items[k]
	return e, ok
}

// Add makes e the entry for k, the most recently used, replacing any
// other, and evicts the least recently used beyond the size, which it
// returns.
func (l *entryList) Add(k cacheKey, e *cacheEntry) (evicted *cacheEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, ok := l.items[k]; ok {
		l.unlink(old)
	}
	e.key = k
	l.items[k] = e
	l.pushFront(e)
	if len(l.items) > l.size {
		evicted = l.root.prev
		l.unlink(evicted)
		delete(l.items, evicted.key)
	}
	return evicted
}

// Remove drops the entry for k.
func (l *entryList) Remove(k cacheKey) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.items[k]; ok {
		l.unlink(e)
		delete(l.items, k)
	}
}

func (l *entryList) pushFront(e *cacheEntry) {
	e.prev, e.next = &l.root, l.root.next
	l.root.next.prev = e
	l.root.next = e
}

func (l *entryList) unlink(e *cacheEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}
