package upstream

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// TestRecordReportsOutagesNotLosses checks when an upstream's failures are
// worth a log line: after reportAfter in a row, once, and its recovery
// only when its failure was reported. Times are given, not read from the
// clock, so exchanges can overlap as they do under load.
func TestRecordReportsOutagesNotLosses(t *testing.T) {
	lost := errors.New("timeout")
	type exchange struct {
		sent, done int // milliseconds
		err        error
	}
	// in turn makes exchanges that do not overlap, one per 10 ms.
	in := func(outcomes ...error) []exchange {
		out := make([]exchange, len(outcomes))
		for i, err := range outcomes {
			out[i] = exchange{10 * i, 10*i + 5, err}
		}
		return out
	}
	tests := []struct {
		name       string
		exchanges  []exchange
		down, back []int // exchanges, counted from 1, reported as going down / coming back
	}{
		{"one lost datagram", in(lost, nil), nil, nil},
		{"two in a row", in(lost, lost, nil, lost, lost, nil), nil, nil},
		{"an outage", in(lost, lost, lost, lost, lost, nil, nil), []int{3}, []int{6}},
		{"still down", in(nil, lost, lost, lost, lost), []int{4}, nil},
		{"two outages", in(lost, lost, lost, nil, lost, lost, lost, nil), []int{3, 7}, []int{4, 8}},
		// A hung upstream comes back: the queries sent while it hung
		// time out after its first answer, and must not count.
		{"flapping after a hang", []exchange{
			{0, 5, lost}, {10, 15, lost}, {20, 25, lost}, // reported
			{30, 100, lost}, {31, 101, nil}, {32, 102, lost}, {33, 103, lost},
			{34, 104, lost}, {35, 105, nil}, {36, 106, lost}, {37, 107, lost},
			{38, 108, lost}, {99, 109, lost}, {110, 111, nil},
		}, []int{3}, []int{5}},
		{"down again after coming back", []exchange{
			{0, 5, lost}, {10, 15, lost}, {20, 25, lost},
			{30, 31, nil}, {29, 40, lost}, // sent before the answer
			{32, 50, lost}, {51, 60, lost}, {61, 70, lost}, // sent after it
		}, []int{3, 8}, []int{4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			epoch := time.Now()
			at := func(ms int) time.Time { return epoch.Add(time.Duration(ms) * time.Millisecond) }
			mb := &member{}
			var down, back []int
			for i, x := range tt.exchanges {
				c := mb.record(at(x.sent), at(x.done), x.err, false)
				if c.wentDown {
					down = append(down, i+1)
				}
				if c.cameBack {
					back = append(back, i+1)
				}
			}
			if !slices.Equal(down, tt.down) || !slices.Equal(back, tt.back) {
				t.Errorf("reported down at %v and back at %v, want %v and %v", down, back, tt.down, tt.back)
			}
		})
	}
}

// TestDueProbe checks when Run probes a failing upstream: a second after
// it failed, then with backoff, but every outageProbe while all are down.
func TestDueProbe(t *testing.T) {
	epoch := time.Now()
	at := func(ms int) time.Time { return epoch.Add(time.Duration(ms) * time.Millisecond) }
	lost := errors.New("timeout")
	tests := []struct {
		name   string
		probes int // failed probes after the first failure, each 10 ms apart
		now    int // milliseconds after the last failure
		outage bool
		due    bool
	}{
		{"just failed", 0, 999, false, false},
		{"a second after", 0, 1000, false, true},
		{"probe failed, backing off", 1, 1500, false, false},
		{"probe failed, backed off", 1, 2000, false, true},
		{"three probes failed", 3, 7999, false, false},
		{"three probes failed, all down", 3, 1000, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mb := &member{}
			mb.record(at(0), at(5), lost, false)
			last := 5
			for i := range tt.probes {
				last = 10*(i+1) + 5
				mb.record(at(last-5), at(last), lost, true)
			}
			if due := mb.dueProbe(at(last+tt.now), tt.outage); due != tt.due {
				t.Errorf("due %v, want %v", due, tt.due)
			}
		})
	}
	mb := &member{}
	mb.record(at(0), at(5), nil, false)
	if mb.dueProbe(at(60000), true) {
		t.Error("an answering upstream is due a probe")
	}
}
