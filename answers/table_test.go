package answers

import "testing"

// TestTableMatchesSet inserts and removes slots in a table sized to no
// power of two, half of them with hashes whose home is among its last
// cells, so that their probes wrap around to the first cells, and checks
// after each change that it finds exactly the slots a plain set holds.
func TestTableMatchesSet(t *testing.T) {
	tb := table{planned: 1000}
	defer tb.unmap()
	hashOf := func(slot int32) uint32 {
		h := uint32(slot) * 2654435761
		if slot%2 == 0 {
			h |= 0xfff00000 // home among the last cells
		}
		return h
	}
	held := map[int32]bool{}
	check := func(step int) {
		for slot := range int32(1200) {
			_, got := tb.find(hashOf(slot), func(s int32) bool { return s == slot })
			if held[slot] != (got == slot) || got != slot && got != -1 {
				t.Fatalf("step %d: find(%d) = %d, held %v", step, slot, got, held[slot])
			}
		}
		if tb.used != len(held) {
			t.Fatalf("step %d: %d cells used for %d slots", step, tb.used, len(held))
		}
	}
	rng := uint64(7)
	for step := range 6000 {
		rng = rng*6364136223846793005 + 1442695040888963407
		slot := int32(rng>>33) % 1200
		cell, got := tb.find(hashOf(slot), func(s int32) bool { return s == slot })
		switch {
		case got < 0 && len(held) < 1000:
			tb.insert(cell, hashOf(slot), slot)
			held[slot] = true
		case got >= 0 && rng>>60 < 4: // a quarter of the time, so that the table fills
			tb.remove(cell)
			delete(held, slot)
		}
		if step%50 == 0 {
			check(step)
		}
	}
	check(6000)
	if n := len(tb.cells); n&(n-1) == 0 || 4*tb.used > 3*n {
		t.Fatalf("%d cells for %d slots: want no power of two, at most 3/4 used", n, tb.used)
	}
}
