package flows

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// SourceOptions are the options every flow source shares.
type SourceOptions struct {
	// Filter keeps LAN clients' flows only.
	Filter Filter
	// Emit receives each flow kept, typically Pipeline.Handle; required.
	Emit func(Flow)
	// Now is the clock that stamps flows; time.Now when nil.
	Now func() time.Time
	// Logger receives the source's errors; discarded when nil.
	Logger *slog.Logger
}

func (o *SourceOptions) fill() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// logEvery is how often a repeating source error is logged at most.
const logEvery = 10 * time.Second

// limitedLog logs a repeating error at most once per logEvery, with the
// count of the ones left out since, so an overrun storm cannot flood the log.
type limitedLog struct {
	mu      sync.Mutex
	logger  *slog.Logger
	now     func() time.Time
	last    time.Time
	skipped int
}

func (l *limitedLog) log(msg string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if !l.last.IsZero() && now.Sub(l.last) < logEvery {
		l.skipped++
		return
	}
	l.logger.Warn(msg, "err", err, "since_last_logged", l.skipped)
	l.last, l.skipped = now, 0
}

// netlinkError explains a failure to open a netfilter netlink socket by
// what is missing: the kernel module or the capability.
func netlinkError(what, module string, err error) error {
	switch {
	case isErrno(err, unix.EPERM), isErrno(err, unix.EACCES):
		return fmt.Errorf("%s: %w: needs CAP_NET_ADMIN (run as root or add it to the service)", what, err)
	case isErrno(err, unix.EPROTONOSUPPORT), isErrno(err, unix.ENOENT), isErrno(err, unix.EOPNOTSUPP):
		return fmt.Errorf("%s: %w: kernel module %s is not loaded (modprobe %s), and CAP_NET_ADMIN is needed", what, err, module, module)
	}
	return fmt.Errorf("%s: %w (needs kernel module %s and CAP_NET_ADMIN)", what, err, module)
}

// isErrno reports whether err is errno, also when a library formatted it
// with %v instead of wrapping it (go-nflog does).
func isErrno(err error, errno unix.Errno) bool {
	return errors.Is(err, errno) || strings.HasSuffix(err.Error(), errno.Error())
}

// pause waits a little after a failure that may repeat at once (a closed
// or broken socket, no file descriptors), so that it cannot spin a core;
// it returns early when done is closed.
func pause(done <-chan struct{}) {
	t := time.NewTimer(10 * time.Millisecond)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// backgroundNice is the nice value of a source's reading thread.
const backgroundNice = 10

// toBackground moves the calling goroutine, for the rest of its life, to
// a thread of its own at lower CPU priority (SCHED_BATCH, nice 10): a
// source's lines can wait milliseconds and a DNS answer cannot, and at
// normal priority each burst of lines woke a thread that preempted the
// resolver or its clients (BENCHMARKS.md, thirteenth round). The thread is
// never unlocked, so it ends with the goroutine rather than going back to
// the runtime's pool at that priority. An error (a seccomp filter, say)
// goes to log, prefixed by what, and the goroutine reads at normal priority.
func toBackground(log *limitedLog, what string) {
	runtime.LockOSThread()
	if err := unix.SchedSetAttr(0, &unix.SchedAttr{Policy: unix.SCHED_BATCH, Nice: backgroundNice}, 0); err != nil {
		log.log(what+": lower the reading thread's CPU priority", err)
	}
}
