package swapq

import (
	"slices"
	"testing"
)

// TestQueue: items come out in order at a Take, past the bound they are
// refused, Ready holds a token once the queue is non-empty, and the spare
// handed to Take is where the next items go.
func TestQueue(t *testing.T) {
	q := New[int](3)
	select {
	case <-q.Ready():
		t.Fatal("token before any Put")
	default:
	}
	for i, want := range []bool{true, true, true, false} {
		if got := q.Put(i); got != want {
			t.Errorf("Put(%d) = %v, want %v", i, got, want)
		}
	}
	if q.Len() != 3 {
		t.Errorf("Len %d, want 3", q.Len())
	}
	select {
	case <-q.Ready():
	default:
		t.Fatal("no token after Put")
	}
	spare := make([]int, 0, 8)
	if got := q.Take(spare); !slices.Equal(got, []int{0, 1, 2}) {
		t.Errorf("Take: %v", got)
	}
	q.Put(7)
	if got := q.Take(nil); !slices.Equal(got, []int{7}) || cap(got) != 8 {
		t.Errorf("Take after the swap: %v (cap %d), want [7] in the spare", got, cap(got))
	}
	if got := q.Take(nil); len(got) != 0 || q.Len() != 0 {
		t.Errorf("empty queue took %v", got)
	}
}
