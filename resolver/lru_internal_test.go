package resolver

import "testing"

// The entry list evicts the least recently used, a Get counting as a use
// and a Peek not, and replaces an entry added again under its key.
func TestEntryListOrder(t *testing.T) {
	k := func(name string) cacheKey { return cacheKey{name, 1, 1, false} }
	held := func(l *entryList, names ...string) {
		t.Helper()
		for _, n := range names {
			if _, ok := l.Peek(k(n)); !ok {
				t.Errorf("%s not held", n)
			}
		}
	}
	gone := func(l *entryList, names ...string) {
		t.Helper()
		for _, n := range names {
			if _, ok := l.Peek(k(n)); ok {
				t.Errorf("%s still held", n)
			}
		}
	}
	l := newEntryList(3)
	for _, n := range []string{"a", "b", "c"} {
		l.Add(k(n), &cacheEntry{upstream: n})
	}
	l.Get(k("a"))
	l.Peek(k("b"))
	l.Add(k("d"), &cacheEntry{upstream: "d"}) // evicts b: a was used
	gone(l, "b")
	held(l, "a", "c", "d")
	l.Add(k("c"), &cacheEntry{upstream: "c2"}) // now the most recent
	if e, ok := l.Peek(k("c")); !ok || e.upstream != "c2" || len(l.items) != 3 {
		t.Errorf("replaced entry: %v %v, %d entries", e, ok, len(l.items))
	}
	l.Remove(k("a"))
	l.Remove(k("none"))
	if len(l.items) != 2 {
		t.Errorf("%d entries after removing a, want 2", len(l.items))
	}
	l.Add(k("e"), &cacheEntry{})
	l.Add(k("f"), &cacheEntry{}) // evicts d, used before c was replaced
	gone(l, "a", "b", "d")
	held(l, "c", "e", "f")
}
