// Package testwait waits in tests for a condition another goroutine or
// process brings about, polling with a deadline instead of sleeping for
// a guessed time.
package testwait

import (
	"testing"
	"time"
)

// Until polls cond every 5 ms until it holds, failing t (from the test's
// goroutine) after 10 s with what was awaited.
func Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
