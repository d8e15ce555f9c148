package querylog

import "time"

// clock is the time the encoder and the file sink go by. Tests put in one
// they move by hand, so that what happens after an interval is checked
// without waiting the interval out.
type clock interface {
	now() time.Time
	// newTimer returns a timer that fires once, d from now.
	newTimer(d time.Duration) timer
}

// timer is the part of time.Timer the logger uses.
type timer interface {
	c() <-chan time.Time
	reset(d time.Duration)
	stop()
}

// systemClock is the real time.
type systemClock struct{}

func (systemClock) now() time.Time { return time.Now() }

func (systemClock) newTimer(d time.Duration) timer { return systemTimer{time.NewTimer(d)} }

type systemTimer struct{ t *time.Timer }

func (s systemTimer) c() <-chan time.Time { return s.t.C }

// reset needs no draining: since Go 1.23 a reset timer never delivers a
// value from before.
func (s systemTimer) reset(d time.Duration) { s.t.Reset(d) }

func (s systemTimer) stop() { s.t.Stop() }
