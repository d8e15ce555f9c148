package web

import (
	"fmt"
	"net/netip"
	"testing"
)

// TestSubscriber hands a subscriber drains larger than its queue: it
// keeps the oldest events its filter accepts, up to subscriberQ, counts
// the rest it accepts as dropped, and hands them out oldest first.
func TestSubscriber(t *testing.T) {
	// Each drain's events are named in order; LatencyMS numbers them
	// across drains.
	seq := 0
	drain := func(n int) []Event {
		evs := make([]Event, n)
		for i := range evs {
			seq++
			evs[i] = Event{Client: netip.MustParseAddr("10.0.0.1"), Name: fmt.Sprintf("h%d.example.test", i), Source: "cache", LatencyMS: float64(seq)}
			if i%2 == 1 {
				evs[i].Source = "blocked"
			}
		}
		return evs
	}
	for _, tc := range []struct {
		name   string
		f      filter
		drains []int
		// first is the name of the first event queued, kept the number
		// queued, dropped the number counted.
		first         string
		kept, dropped int
	}{
		{"unfiltered, room", filter{}, []int{10}, "h0.example.test", 10, 0},
		{"unfiltered, full", filter{}, []int{subscriberQ + 44}, "h0.example.test", subscriberQ, 44},
		{"unfiltered, two drains", filter{}, []int{200, 100}, "h0.example.test", subscriberQ, 44},
		{"blocked only, room", filter{source: "blocked"}, []int{10}, "h1.example.test", 5, 0},
		{"blocked only, full", filter{source: "blocked"}, []int{3 * subscriberQ}, "h1.example.test", subscriberQ, subscriberQ / 2},
		{"other client", filter{client: netip.MustParseAddr("10.0.0.2")}, []int{3 * subscriberQ}, "", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub()
			s := h.subscribe(tc.f)
			for _, n := range tc.drains {
				h.publish(drain(n))
			}
			var got []Event
			for {
				batch, dropped := s.take(nil, streamBatch)
				if dropped != uint64(tc.dropped) {
					t.Fatalf("dropped %d, want %d", dropped, tc.dropped)
				}
				if len(batch) == 0 {
					break
				}
				if len(batch) > streamBatch {
					t.Fatalf("a batch of %d", len(batch))
				}
				got = append(got, batch...)
			}
			if len(got) != tc.kept {
				t.Fatalf("kept %d, want %d", len(got), tc.kept)
			}
			for i := range got {
				if !tc.f.keep(&got[i]) {
					t.Fatalf("kept %+v, which the filter refuses", got[i])
				}
				if i > 0 && got[i].LatencyMS <= got[i-1].LatencyMS {
					t.Fatalf("out of order: %+v after %+v", got[i], got[i-1])
				}
			}
			if len(got) > 0 && got[0].Name != tc.first {
				t.Errorf("first %s, want %s", got[0].Name, tc.first)
			}
			h.unsubscribe(s)
			h.publish(drain(1))
			if batch, _ := s.take(nil, streamBatch); len(batch) != 0 {
				t.Errorf("unsubscribed, still got %d", len(batch))
			}
		})
	}
}
