package flows

import (
	"context"
	"errors"
	"net/netip"
	"sync/atomic"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"
)

// ConntrackOptions configure a Conntrack source.
type ConntrackOptions struct {
	SourceOptions
	// NetNS is a network namespace's file descriptor to listen in; zero
	// means the caller's.
	NetNS int
	// ReadBuffer sets the socket's receive buffer in bytes when positive;
	// a larger one overruns less often under bursts of connections.
	ReadBuffer int
}

// ConntrackStats count a Conntrack source's events, for metrics.
type ConntrackStats struct {
	// Events is every NEW event read.
	Events uint64
	// Kept is the events emitted as flows.
	Kept uint64
	// Overruns is how often the socket overran (ENOBUFS): events the
	// kernel could not queue were lost.
	Overruns uint64
	// Errors is the other read and decode failures.
	Errors uint64
}

// Conntrack emits a flow for each new connection the kernel's connection
// tracker sees, from its netlink NEW events.
type Conntrack struct {
	o                            ConntrackOptions
	nf                           *netfilter.Conn
	log                          limitedLog
	closed                       atomic.Bool
	events, kept, overruns, errs atomic.Uint64
}

// NewConntrack joins the conntrack NEW event group, so that a missing
// module or capability is an error at start. Events queue in the socket
// until Run reads them.
func NewConntrack(o ConntrackOptions) (*Conntrack, error) {
	o.fill()
	// The raw netfilter socket rather than conntrack.Conn.Listen, whose
	// reader ends at the first error: Run counts an overrun and reads on.
	nf, err := netfilter.Dial(&netlink.Config{NetNS: o.NetNS})
	if err != nil {
		return nil, netlinkError("conntrack events: open netlink socket", "nf_conntrack_netlink", err)
	}
	if o.ReadBuffer > 0 {
		if err := nf.SetReadBuffer(o.ReadBuffer); err != nil {
			nf.Close()
			return nil, netlinkError("conntrack events: set read buffer", "nf_conntrack_netlink", err)
		}
	}
	if err := nf.JoinGroups([]netfilter.NetlinkGroup{netfilter.GroupCTNew}); err != nil {
		nf.Close()
		return nil, netlinkError("conntrack events: join the NEW event group", "nf_conntrack_netlink", err)
	}
	return &Conntrack{o: o, nf: nf, log: limitedLog{logger: o.Logger, now: o.Now}}, nil
}

// Run reads events until ctx is done, then closes the socket. An overrun
// is counted, logged at most once per 10 s, and reading goes on: the
// netlink socket stays usable after ENOBUFS, only the events it dropped
// are lost, and conntrack events carry no state to resynchronise.
func (c *Conntrack) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	defer c.Close()
	toBackground(&c.log, "conntrack events")
	for {
		msgs, err := c.nf.Receive()
		if c.closed.Load() {
			return nil
		}
		switch {
		case errors.Is(err, unix.ENOBUFS):
			c.overruns.Add(1)
			c.log.log("conntrack events: socket overran, events lost", err)
			continue
		case err != nil:
			c.errs.Add(1)
			c.log.log("conntrack events: read failed", err)
			pause(ctx.Done())
			continue
		}
		for _, m := range msgs {
			c.handle(m)
		}
	}
}

func (c *Conntrack) handle(m netlink.Message) {
	var ev conntrack.Event
	if err := ev.Unmarshal(m); err != nil {
		c.errs.Add(1)
		c.log.log("conntrack events: undecodable event", err)
		return
	}
	if ev.Type != conntrack.EventNew || ev.Flow == nil {
		return
	}
	c.events.Add(1)
	t := ev.Flow.TupleOrig
	f := Flow{
		Time:    c.o.Now(),
		Client:  netip.AddrPortFrom(t.IP.SourceAddress.Unmap(), t.Proto.SourcePort),
		Dest:    netip.AddrPortFrom(t.IP.DestinationAddress.Unmap(), t.Proto.DestinationPort),
		Proto:   ProtoFromIP(t.Proto.Protocol),
		Verdict: VerdictNew,
	}
	if !c.o.Filter.Keep(&f) {
		return
	}
	c.kept.Add(1)
	c.o.Emit(f)
}

// Close closes the socket; Run returns.
func (c *Conntrack) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	return c.nf.Close()
}

// Stats returns the counters so far.
func (c *Conntrack) Stats() ConntrackStats {
	return ConntrackStats{Events: c.events.Load(), Kept: c.kept.Load(), Overruns: c.overruns.Load(), Errors: c.errs.Load()}
}
