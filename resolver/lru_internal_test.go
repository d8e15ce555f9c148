package resolver

import (
	"slices"
	"testing"
)

// The entry list evicts the least recently used, a Get counting as a use
// and a Peek not, and replaces an entry added again under its key.
func TestEntryListOrder(t *testing.T) {
	k := func(name string) cacheKey { return cacheKey{name, 1, 1, false} }
	names := func(keys []cacheKey) []string {
		var out []string
		for _, key := range keys {
			out = append(out, key.name)
		}
		return out
	}
	l := newEntryList(3)
	for _, n := range []string{"a", "b", "c"} {
		l.Add(k(n), &cacheEntry{upstream: n})
	}
	l.Get(k("a"))
	l.Peek(k("b"))
	l.Add(k("d"), &cacheEntry{upstream: "d"}) // evicts b: a was used
	if got, want := names(l.Keys()), []string{"c", "a", "d"}; !slices.Equal(got, want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
	l.Add(k("c"), &cacheEntry{upstream: "c2"})
	if e, ok := l.Peek(k("c")); !ok || e.upstream != "c2" || l.Len() != 3 {
		t.Errorf("replaced entry: %v %v, %d entries", e, ok, l.Len())
	}
	l.Remove(k("a"))
	l.Remove(k("none"))
	if got, want := names(l.Keys()), []string{"d", "c"}; !slices.Equal(got, want) {
		t.Errorf("keys after removing a: %v, want %v", got, want)
	}
	if _, ok := l.Get(k("b")); ok {
		t.Error("evicted entry still found")
	}

	all := newEntryList(2)
	var entries []*cacheEntry
	for _, n := range []string{"x", "y", "z"} {
		entries = append(entries, &cacheEntry{key: k(n)})
	}
	all.AddAll(entries)
	if got, want := names(all.Keys()), []string{"y", "z"}; !slices.Equal(got, want) {
		t.Errorf("keys after AddAll beyond the size: %v, want %v", got, want)
	}
}
