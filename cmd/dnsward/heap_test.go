package main

import (
	"runtime"
	rtmetrics "runtime/metrics"
	"testing"
)

// TestHeapFloorRaisesTheCollectorsGoal checks that the floor's bytes are
// counted: the heap may grow by at least that much more before the next
// collection.
func TestHeapFloorRaisesTheCollectorsGoal(t *testing.T) {
	goal := func() uint64 {
		runtime.GC()
		s := []rtmetrics.Sample{{Name: "/gc/heap/goal:bytes"}}
		rtmetrics.Read(s)
		return s[0].Value.Uint64()
	}
	before := goal()
	floor := raiseHeapFloor()
	after := goal()
	runtime.KeepAlive(floor)
	if after < before+heapFloor {
		t.Errorf("collector's goal %d bytes with the floor, %d without: want at least %d more", after, before, heapFloor)
	}
}
