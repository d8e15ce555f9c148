package resolver

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkCacheMemory reports the heap a cached name holds: a million A
// answers stored as from upstream, the heap measured after collections
// before and after. Resident memory is about this times 1 + GOGC/100.
func BenchmarkCacheMemory(b *testing.B) {
	const names = 1_000_000
	clock := &persistClock{time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)}
	for b.Loop() {
		before := heapInUse()
		c := newPersistCache(b, clock, names, 0)
		for i := range names {
			storeA(b, c, fmt.Sprintf("host%d.example%d.test.", i, i%1000), 3600, "udp://192.0.2.53:53")
		}
		after := heapInUse()
		b.ReportMetric(float64(after-before)/names, "B/entry")
		runtime.KeepAlive(c)
	}
}

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
