package querylog

import (
	"log/slog"
	"sync"
	"testing"
	"time"
)

// fakeClock moves only when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	clk *fakeClock
	ch  chan time.Time
	at  time.Time
	on  bool // armed and not yet fired
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now()} }

func (f *fakeClock) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) newTimer(d time.Duration) timer {
	t := &fakeTimer{clk: f, ch: make(chan time.Time, 1)}
	f.mu.Lock()
	f.timers = append(f.timers, t)
	f.mu.Unlock()
	t.reset(d)
	return t
}

func (t *fakeTimer) c() <-chan time.Time { return t.ch }

// reset discards a value not yet received, as time.Timer's Reset does.
func (t *fakeTimer) reset(d time.Duration) {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	select {
	case <-t.ch:
	default:
	}
	t.at, t.on = t.clk.t.Add(d), true
}

func (t *fakeTimer) stop() {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	t.on = false
}

// advance moves the clock d on and fires the timers that came due,
// returning how many did.
func (f *fakeClock) advance(d time.Duration) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
	fired := 0
	for _, t := range f.timers {
		if t.on && !t.at.After(f.t) {
			t.on = false
			t.ch <- f.t // never blocks: a reset or a receive emptied it
			fired++
		}
	}
	return fired
}

// armed counts the timers waiting to fire.
func (f *fakeClock) armed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, t := range f.timers {
		if t.on {
			n++
		}
	}
	return n
}

// startClocked runs a Logger on clk; the returned stop ends Run and
// returns its error.
func startClocked(tb testing.TB, cfg Config, log *slog.Logger, clk clock) (*Logger, func() error) {
	tb.Helper()
	l, err := newLogger(cfg, log, clk)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return l, run(tb, l)
}
