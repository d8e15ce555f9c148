package flows

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// priorities counts the flows a source emitted from a thread not at the
// sources' background priority (toBackground).
type priorities struct{ calls, foreground atomic.Int64 }

// wrap returns emit, counting on the way.
func (p *priorities) wrap(emit func(Flow)) func(Flow) {
	return func(f Flow) {
		p.calls.Add(1)
		if a, err := unix.SchedGetAttr(0, 0); err != nil || a.Policy != unix.SCHED_BATCH || a.Nice != backgroundNice {
			p.foreground.Add(1)
		}
		emit(f)
	}
}

// check fails t unless every flow emitted came from a background thread.
func (p *priorities) check(t *testing.T, source string) {
	t.Helper()
	if n, fg := p.calls.Load(), p.foreground.Load(); n == 0 || fg > 0 {
		t.Errorf("%s: %d of %d flows emitted at normal priority, want none of at least one", source, fg, n)
	}
}

// mapLookuper is an answer index held in a map, for tests that set the
// answers' times by hand; the real index (IndexLookuper) has the same
// Lookup and Who.
type mapLookuper map[netip.Addr][]Name

func (m mapLookuper) add(client netip.Addr, name string, dest netip.Addr, asked, until time.Time) {
	m[dest] = append(m[dest], Name{Client: client, Name: name, FirstAsked: asked, LastAsked: asked, ValidUntil: until})
}

func (m mapLookuper) Lookup(client, addr netip.Addr, at time.Time) []Name {
	var out []Name
	for _, n := range m[addr] {
		if n.Client == client && valid(n, at) {
			out = append(out, n)
		}
	}
	return out
}

func (m mapLookuper) Who(addr netip.Addr, at time.Time) []Name {
	var out []Name
	for _, n := range m[addr] {
		if valid(n, at) {
			out = append(out, n)
		}
	}
	return out
}

func valid(n Name, at time.Time) bool { return !at.Before(n.FirstAsked) && !at.After(n.ValidUntil) }

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
func ip(s string) netip.Addr     { return netip.MustParseAddr(s) }
