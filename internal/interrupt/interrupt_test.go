package interrupt

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// TestOn: a read blocked on a loopback connection returns once the
// context is cancelled; stop says so, and a context that is never done
// sets no deadline.
func TestOn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()

	ctx, cancel := context.WithCancel(context.Background())
	stop := On(ctx, c.SetReadDeadline)
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: %v, want a deadline error", err)
	}
	if !stop() {
		t.Error("stop: not interrupted, want interrupted")
	}

	var calls int
	stop = On(context.Background(), func(time.Time) error { calls++; return nil })
	if interrupted := stop(); interrupted || calls != 0 {
		t.Errorf("a context never done: interrupted %v, set called %d times", interrupted, calls)
	}
}

// TestStopWaitsForSet: when the context ends just as the call does, stop
// returns only after set has run, so a deadline the caller sets next is
// the one that stays.
func TestStopWaitsForSet(t *testing.T) {
	for range 100 {
		ctx, cancel := context.WithCancel(context.Background())
		var at time.Time
		stop := On(ctx, func(d time.Time) error {
			// A slow set, not a wait for time to pass: a stop that
			// did not wait for it would find at still zero.
			time.Sleep(time.Millisecond)
			at = d
			return nil
		})
		cancel()
		if !stop() {
			t.Fatal("stop after cancel: not interrupted")
		}
		if at.IsZero() {
			t.Fatal("stop returned before set had run")
		}
	}
}
