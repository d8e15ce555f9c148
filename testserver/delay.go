package testserver

import (
	"container/heap"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// delayLine holds answers until their deadlines. time.Sleep would do, but
// Go's timers wait in epoll_wait, whose timeout is in whole milliseconds:
// a 20 ms sleep lasted 20.0-21 ms, which lowered the benchmark's delayed
// ceiling for every forwarder measured against it. A timerfd wakes the
// poller within the kernel's timer slack instead.
type delayLine struct {
	timer *os.File
	// raw sets the timer: Fd would put it in blocking mode, out of the
	// poller that run's Read waits in.
	raw  syscall.RawConn
	done chan struct{} // closed when run has returned

	mu      sync.Mutex
	waits   waitHeap
	armedAt time.Time // the deadline the timer is set for; zero when unset
	closed  bool
}

type wait struct {
	at    time.Time
	ready chan struct{}
}

func newDelayLine() (*delayLine, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("testserver: timerfd: %w", err)
	}
	timer := os.NewFile(uintptr(fd), "timerfd")
	raw, err := timer.SyscallConn()
	if err != nil {
		timer.Close()
		return nil, fmt.Errorf("testserver: timerfd: %w", err)
	}
	l := &delayLine{timer: timer, raw: raw, done: make(chan struct{})}
	go l.run()
	return l, nil
}

// sleep returns d after it was called, or as soon as the line is closed.
func (l *delayLine) sleep(d time.Duration) {
	w := wait{at: time.Now().Add(d), ready: make(chan struct{})}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	heap.Push(&l.waits, w)
	if l.armedAt.IsZero() || w.at.Before(l.armedAt) {
		l.arm(w.at)
	}
	l.mu.Unlock()
	<-w.ready
}

// run releases the waits that are due each time the timer fires, until
// the timer is closed.
func (l *delayLine) run() {
	defer close(l.done)
	expirations := make([]byte, 8)
	for {
		if _, err := l.timer.Read(expirations); err != nil {
			if !errors.Is(err, os.ErrClosed) {
				panic(fmt.Sprintf("testserver: timerfd read: %v", err))
			}
			return
		}
		l.release()
	}
}

func (l *delayLine) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	now := time.Now()
	for len(l.waits) > 0 && !l.waits[0].at.After(now) {
		close(heap.Pop(&l.waits).(wait).ready)
	}
	l.armedAt = time.Time{}
	if len(l.waits) > 0 {
		l.arm(l.waits[0].at)
	}
}

// arm sets the timer to fire at at; l.mu must be held.
func (l *delayLine) arm(at time.Time) {
	// A zero it_value would disarm the timer, so a deadline already past
	// fires after the shortest time instead.
	d := max(time.Until(at), time.Nanosecond)
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(d.Nanoseconds())}
	var err error
	if cerr := l.raw.Control(func(fd uintptr) { err = unix.TimerfdSettime(int(fd), 0, &spec, nil) }); cerr != nil {
		err = cerr
	}
	if err != nil {
		panic(fmt.Sprintf("testserver: timerfd settime: %v", err))
	}
	l.armedAt = at
}

// close releases every wait at once and stops the line.
func (l *delayLine) close() {
	l.mu.Lock()
	l.closed = true
	for _, w := range l.waits {
		close(w.ready)
	}
	l.waits = nil
	l.mu.Unlock()
	l.timer.Close()
	<-l.done
}

// waitHeap orders waits by deadline: a delay lowered with SetDelay puts
// later queries before earlier ones.
type waitHeap []wait

func (h waitHeap) Len() int           { return len(h) }
func (h waitHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h waitHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *waitHeap) Push(x any)        { *h = append(*h, x.(wait)) }
func (h *waitHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	*h = old[:len(old)-1]
	return w
}
