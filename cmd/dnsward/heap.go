package main

// heapFloor is how much more than the live data the garbage collector
// counts. Without it a small heap, as a small or cold cache has, was
// collected every 4-8 MB allocated: every 160 ms at 50,000 cache hits a
// second (548 bytes each), and each collection held up a burst of queries.
// In alternating runs at that rate on two cores, p99 was 1.5-2.5 ms without
// it and mostly 0.8-1.3 ms with it (BENCHMARKS.md, fourth round).
// The bytes are never written, so they take no memory (0.6 MB of RSS
// measured); what it costs is up to this much more garbage held between
// collections, which a large cache's heap allows anyway.
const heapFloor = 32 << 20

// raiseHeapFloor returns the bytes that make up heapFloor; they count only
// while reachable, so the caller keeps them until it stops serving. It is a
// heap ballast because the runtime has no other floor: GOMEMLIMIT only ever
// makes collections more frequent, and a higher GOGC would multiply a large
// cache's heap too.
func raiseHeapFloor() []byte { return make([]byte, heapFloor) }
