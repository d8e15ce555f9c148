package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
)

// signalLoopChild, set in a child's environment, makes
// TestSignalLoopEndDropsSignals run the child's part.
const signalLoopChild = "DNSWARD_TEST_SIGNAL_LOOP_CHILD"

// TestSignalLoopEndDropsSignals: a SIGHUP or SIGUSR1 that comes while
// onSignal's loop ends is dropped; it never meets the signal's default
// action, which ends the process. It did when the loop ended with
// signal.Ignore, which stops the runtime handling the signal before it
// installs SIG_IGN: a SIGHUP between the two killed dnsward while it
// drained (TestSignalsWhileDraining, once, on a loaded machine). Only a
// process's first such moment can kill it, so each try is a child process,
// whose loops end while another thread sends it both signals.
func TestSignalLoopEndDropsSignals(t *testing.T) {
	t.Parallel()
	if os.Getenv(signalLoopChild) != "" {
		endLoopsUnderSignals()
		return
	}
	const tries = 40
	for i := range tries {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestSignalLoopEndDropsSignals$", "-test.count=1")
		// Without the race detector's second at exit, kept for goroutines
		// still running: the child's have ended.
		cmd.Env = append(os.Environ(), signalLoopChild+"=1", "GORACE=atexit_sleep_ms=0")
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("try %d of %d: the child ended with %v (a signal's default action):\n%s", i+1, tries, err, out)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// endLoopsUnderSignals starts the SIGHUP and SIGUSR1 loops runServe starts
// and ends them while a goroutine sends the process both signals.
func endLoopsUnderSignals() {
	ctx, cancel := context.WithCancel(context.Background())
	var loops sync.WaitGroup
	handled := make(chan struct{}, 2)
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGUSR1} {
		loop := onSignal(sig, func() {
			select {
			case handled <- struct{}{}:
			default:
			}
		})
		loops.Go(func() { loop(ctx) })
	}
	stop := make(chan struct{})
	var sender sync.WaitGroup
	sender.Go(func() {
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			sig := syscall.SIGHUP
			if n%2 == 1 {
				sig = syscall.SIGUSR1
			}
			if err := syscall.Kill(os.Getpid(), sig); err != nil {
				fmt.Fprintln(os.Stderr, "kill:", err)
				os.Exit(3)
			}
		}
	})
	// The loops end while the signals come.
	<-handled
	cancel()
	loops.Wait()
	close(stop)
	sender.Wait()
}
