package flows

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	nflog "github.com/florianl/go-nflog/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// NflogOptions configure an Nflog source.
type NflogOptions struct {
	SourceOptions
	// Group is the nflog group the firewall logs to (`log group N`).
	Group uint16
	// NetNS is a network namespace's file descriptor to listen in; zero
	// means the caller's.
	NetNS int
	// LoggedPrefixes are the log prefixes of packets logged and let
	// through (verdict logged); every other prefix means dropped.
	LoggedPrefixes []string
}

// NflogStats count an Nflog source's packets, for metrics.
type NflogStats struct {
	// Packets is every packet read from the group.
	Packets uint64
	// Kept is the packets emitted as flows.
	Kept uint64
	// Malformed is the packets without a readable IP header.
	Malformed uint64
	// Overruns is how often the socket overran (ENOBUFS).
	Overruns uint64
	// Errors is the other read failures.
	Errors uint64
}

// Nflog emits a flow for each packet the firewall logs to an nflog group.
type Nflog struct {
	o   NflogOptions
	nf  *nflog.Nflog
	log limitedLog
	// stopping tells the library's reader to end at its next callback;
	// stopped is closed by the callback that ends it.
	stopping            atomic.Bool
	stopOnce, closeOnce sync.Once
	stopped             chan struct{}
	// cancel ends the library's own goroutine that waits on the context,
	// which its Close waits for.
	cancel                                   context.CancelFunc
	packets, kept, malformed, overruns, errs atomic.Uint64
	// background is set once hook has lowered its thread's priority;
	// only the library's reader goroutine reads and writes it.
	background bool
}

// nflogCopy is how much of each packet the kernel copies: enough for an
// IPv6 header, a few extension headers and the ports.
const nflogCopy = 128

// NewNflog binds to the group, so that a missing module or capability is
// an error at start, and starts reading: flows are emitted from then on.
func NewNflog(o NflogOptions) (*Nflog, error) {
	o.fill()
	nf, err := nflog.Open(&nflog.Config{NetNS: o.NetNS, Group: o.Group, Copymode: nflog.CopyPacket, Bufsize: nflogCopy,
		// The kernel otherwise batches up to 100 packets or 1 s.
		QThresh: 1})
	if err != nil {
		return nil, netlinkError("nflog: open netlink socket", "nfnetlink_log", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Nflog{o: o, nf: nf, log: limitedLog{logger: o.Logger, now: o.Now}, stopped: make(chan struct{}), cancel: cancel}
	// The library's reader stops on its context only between reads and
	// without telling; so Close cancels it only once a callback that
	// returns non-zero (stopping is set) has ended the reader.
	if err := nf.RegisterWithErrorFunc(ctx, n.hook, n.onError); err != nil {
		cancel()
		nf.Close()
		return nil, netlinkError("nflog: bind group", "nfnetlink_log", err)
	}
	return n, nil
}

func (n *Nflog) stop() int {
	n.stopOnce.Do(func() { close(n.stopped) })
	return 1
}

func (n *Nflog) hook(a nflog.Attribute) int {
	if n.stopping.Load() {
		return n.stop()
	}
	// The library's one reader goroutine calls hook: the first call moves
	// it to the background, as the other sources' readers are.
	if !n.background {
		n.background = true
		toBackground(&n.log, "nflog")
	}
	n.packets.Add(1)
	if a.Payload == nil {
		n.malformed.Add(1)
		return 0
	}
	src, dst, proto, ok := parsePacket(*a.Payload)
	if !ok {
		n.malformed.Add(1)
		return 0
	}
	f := Flow{Time: n.o.Now(), Client: src, Dest: dst, Proto: ProtoFromIP(proto)}
	if a.Prefix != nil {
		// The rule's prefix ends in a space to part it from IN= in the
		// kernel log; trimmed, it matches the syslog source's.
		f.Prefix = strings.TrimSpace(*a.Prefix)
	}
	f.Verdict = verdictFor(f.Prefix, n.o.LoggedPrefixes)
	if !n.o.Filter.Keep(&f) {
		return 0
	}
	n.kept.Add(1)
	n.o.Emit(f)
	return 0
}

func (n *Nflog) onError(err error) int {
	if n.stopping.Load() {
		return n.stop()
	}
	var op *netlink.OpError
	switch {
	case errors.Is(err, unix.ENOBUFS):
		n.overruns.Add(1)
		n.log.log("nflog: socket overran, packets lost", err)
	case errors.As(err, &op) && op.Timeout():
	case errors.Is(err, net.ErrClosed), errors.Is(err, unix.EBADF):
		return n.stop()
	default:
		n.errs.Add(1)
		n.log.log("nflog: read failed", err)
	}
	return 0
}

// Run waits until ctx is done, then stops reading and closes the socket.
// Reading starts at NewNflog, not here.
func (n *Nflog) Run(ctx context.Context) error {
	<-ctx.Done()
	return n.Close()
}

// Close stops reading and closes the socket.
func (n *Nflog) Close() error {
	var err error
	n.closeOnce.Do(func() {
		n.stopping.Store(true)
		// A read deadline in the past wakes a blocked read, which ends
		// the reader through onError.
		if err = n.nf.Con.SetReadDeadline(time.Unix(1, 0)); err == nil {
			<-n.stopped
		}
		n.cancel()
		err = errors.Join(err, n.nf.Close())
	})
	return err
}

// Stats returns the counters so far.
func (n *Nflog) Stats() NflogStats {
	return NflogStats{Packets: n.packets.Load(), Kept: n.kept.Load(), Malformed: n.malformed.Load(), Overruns: n.overruns.Load(), Errors: n.errs.Load()}
}
