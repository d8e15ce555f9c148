package main

import (
	"os"
	"runtime/debug"
)

// heapFloor is how much more than the live data the garbage collector
// counts. Without it a small heap, as a small or cold cache has, was
// collected every 4-8 MB allocated: every 160 ms at 50,000 cache hits a
// second (548 bytes each), and each collection held up a burst of queries.
// In alternating runs at that rate on two cores, p99 was 1.5-2.5 ms without
// it and mostly 0.8-1.3 ms with it (BENCHMARKS.md, fourth round).
// The bytes are never written, so they take no memory (0.6 MB of RSS
// measured); what it costs is up to gcPercent of it more garbage held
// between collections. It was 32 MiB under Go's default GOGC of 100; at
// gcPercent it takes 96 MiB for a small heap to be collected as seldom
// (every 55 MB allocated at 1,000 cached names, against 47 before).
const heapFloor = 96 << 20

// gcPercent replaces Go's default GOGC of 100. The cache's and the answer
// index's entries live outside the heap; what they keep on it (the
// cache's hash index, its unpacked busy entries) and heapFloor are most
// of what the garbage allowed between collections is counted against. At
// 50 that garbage is half of them rather than all: tens of MB of resident
// memory fewer on a router, for collections that stay rare.
const gcPercent = 50

// tuneCollector sets gcPercent, unless the admin set GOGC, and returns the
// bytes that make up heapFloor; they count only while reachable, so the
// caller keeps them until it stops serving. The floor is a heap ballast
// because the runtime has no other: GOMEMLIMIT only ever makes collections
// more frequent, and a higher GOGC would multiply a large cache's heap too.
func tuneCollector() []byte {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	return make([]byte, heapFloor)
}
