package main

import (
	"runtime"
	"runtime/debug"
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
	// Set, so that the collector's percentage stays as it is and the goal
	// moves by the floor alone.
	t.Setenv("GOGC", "100")
	before := goal()
	floor := tuneCollector()
	after := goal()
	runtime.KeepAlive(floor)
	if after < before+heapFloor {
		t.Errorf("collector's goal %d bytes with the floor, %d without: want at least %d more", after, before, heapFloor)
	}
}

func TestTuneCollectorKeepsTheAdminsGOGC(t *testing.T) {
	gcPercentNow := func() int {
		p := debug.SetGCPercent(100)
		debug.SetGCPercent(p)
		return p
	}
	defer debug.SetGCPercent(gcPercentNow())
	for _, tt := range []struct {
		env  string
		want int
	}{
		{"", gcPercent},
		{"200", 200},
	} {
		debug.SetGCPercent(200)
		t.Setenv("GOGC", tt.env)
		floor := tuneCollector()
		if got := gcPercentNow(); got != tt.want {
			t.Errorf("GOGC=%q: collector at %d%%, want %d%%", tt.env, got, tt.want)
		}
		runtime.KeepAlive(floor)
	}
}
