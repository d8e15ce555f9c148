package upstream

import (
	"errors"
	"testing"
	"time"
)

// TestRecordReportsOutagesNotLosses checks when an upstream's failures are
// worth a log line: after reportAfter in a row, once, and its recovery
// only when its failure was reported.
func TestRecordReportsOutagesNotLosses(t *testing.T) {
	lost := errors.New("timeout")
	tests := []struct {
		name       string
		outcomes   []error
		down, back int // exchanges, counted from 1, reported as going down / coming back; 0 for none
	}{
		{"one lost datagram", []error{lost, nil}, 0, 0},
		{"two in a row", []error{lost, lost, nil, lost, lost, nil}, 0, 0},
		{"an outage", []error{lost, lost, lost, lost, lost, nil, nil}, 3, 6},
		{"still down", []error{nil, lost, lost, lost, lost}, 4, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mb := &member{}
			var down, back int
			for i, err := range tt.outcomes {
				c := mb.record(time.Millisecond, err)
				if c.wentDown {
					if down != 0 {
						t.Errorf("exchange %d reported going down again (first at %d)", i+1, down)
					}
					down = i + 1
				}
				if c.cameBack {
					if back != 0 {
						t.Errorf("exchange %d reported coming back again (first at %d)", i+1, back)
					}
					back = i + 1
				}
			}
			if down != tt.down || back != tt.back {
				t.Errorf("reported down at %d and back at %d, want %d and %d", down, back, tt.down, tt.back)
			}
		})
	}
}
