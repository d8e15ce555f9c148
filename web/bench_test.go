package web

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkTally is the tally's cost per query, off the query path, with
// no stream open and with five (whose queues are full, as under load).
func BenchmarkTally(b *testing.B) {
	for _, subs := range []int{0, 5} {
		b.Run(fmt.Sprintf("streams=%d", subs), func(b *testing.B) {
			w := New(Config{}, Sources{})
			for range subs {
				w.hub.subscribe(filter{}).offer(make([]Event, subscriberQ))
			}
			names := make([]string, 500)
			for i := range names {
				names[i] = fmt.Sprintf("host%d.example.com", i)
			}
			ev := Event{Time: time.Now(), Client: netip.MustParseAddr("192.168.1.20"), Type: "A", Source: "cache", Rcode: "NOERROR"}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				ev.Name = names[i%len(names)]
				w.Observe(ev)
				if i%1024 == 1023 {
					w.drain()
				}
			}
		})
	}
}

// BenchmarkObserve is what the query path pays per answer with the page
// on: one append to the tally's queue, emptied aside.
func BenchmarkObserve(b *testing.B) {
	w := New(Config{}, Sources{})
	ev := Event{Time: time.Now(), Client: netip.MustParseAddr("192.168.1.20"), Name: "host.example.com", Type: "A"}
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			w.Observe(ev)
			if i%1024 == 1023 {
				// Emptied as a drain swaps it, without the tally's work.
				w.spare = w.in.Take(w.spare)[:0]
			}
		}
	})
}
