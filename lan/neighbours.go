package lan

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"

	// Imported under another name: the package's tests have a helper
	// called answers.
	dev "github.com/dnsward/dnsward/answers"
)

// Neighbour states (linux/neighbour.h) whose link-layer address is no
// device's: not yet resolved, unreachable, or not resolved at all.
const (
	nudIncomplete = 0x01
	nudFailed     = 0x20
	nudNoARP      = 0x40
)

// Defaults for the zero NeighbourOptions fields.
const (
	DefaultNeighbourMaxAge  = 10 * time.Second
	DefaultNeighbourMissGap = time.Second
	neighbourReadTimeout    = 250 * time.Millisecond
)

// NeighbourOptions say which neighbour table is read and how often.
type NeighbourOptions struct {
	// NetNS is an open file descriptor of the network namespace whose
	// table is read; 0 is the process's own.
	NetNS int
	// MaxAge is how long a read of the table is used before the next;
	// DefaultNeighbourMaxAge when zero.
	MaxAge time.Duration
	// MissGap is the least time between two reads caused by an address
	// missing from the table, so that routed clients, which are never in
	// it, cannot make every query read it; DefaultNeighbourMissGap when zero.
	MissGap time.Duration
	// Now is Refresh's clock; time.Now when nil. MAC takes the time.
	Now func() time.Time
}

// Neighbours reads the kernel's neighbour table (ARP and NDP) over
// rtnetlink and caches it briefly. Its methods are safe for concurrent use.
type Neighbours struct {
	opts NeighbourOptions
	cur  atomic.Pointer[neighbourTable]
	// reading is held by the one caller reading the table; others go on
	// with the previous read rather than wait on the query path.
	reading sync.Mutex
	// lastTry is when the table was last read or tried (Unix ns), so that
	// a failing read is not retried on every miss either.
	lastTry atomic.Int64
}

// neighbourTable is one read of the table. Its keys are As16 (IPv4
// mapped, no zone) and its times Unix nanoseconds: the lookup on every
// query then hashes 16 bytes and compares integers.
type neighbourTable struct {
	macs map[[16]byte]dev.MAC
	read int64
}

// NewNeighbours returns a reader that reads the table on first use.
func NewNeighbours(o NeighbourOptions) *Neighbours {
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultNeighbourMaxAge
	}
	if o.MissGap <= 0 {
		o.MissGap = DefaultNeighbourMissGap
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Neighbours{opts: o}
}

// MAC returns addr's link-layer address at now, and false when addr is not
// in the table: a client routed from another subnet never is, and gets no
// guess. A read older than MaxAge, or a miss after MissGap, reads the
// table again; a failed read keeps the previous one. now is the caller's,
// which a query has already read, so that the hot path reads no clock.
func (n *Neighbours) MAC(addr netip.Addr, now time.Time) (dev.MAC, bool) {
	key, ns := addr.As16(), now.UnixNano()
	t := n.cur.Load()
	if t == nil || ns-t.read > int64(n.opts.MaxAge) {
		t = n.tryRead(now, t)
	}
	if t == nil {
		return dev.MAC{}, false
	}
	mac, ok := t.macs[key]
	if !ok && ns-n.lastTry.Load() >= int64(n.opts.MissGap) {
		if t = n.tryRead(now, t); t != nil {
			mac, ok = t.macs[key]
		}
	}
	return mac, ok
}

// tryRead reads the table unless another caller is reading it, and
// returns the newest table held.
func (n *Neighbours) tryRead(now time.Time, old *neighbourTable) *neighbourTable {
	if !n.reading.TryLock() {
		return old
	}
	defer n.reading.Unlock()
	n.lastTry.Store(now.UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), neighbourReadTimeout)
	defer cancel()
	// A failed read keeps the previous table; Refresh says why it failed.
	_ = n.read(ctx, now)
	return n.cur.Load()
}

// Refresh reads the table now; callers use it at start to report an
// unreadable table, which MAC cannot.
func (n *Neighbours) Refresh(ctx context.Context) error {
	n.reading.Lock()
	defer n.reading.Unlock()
	now := n.opts.Now()
	n.lastTry.Store(now.UnixNano())
	return n.read(ctx, now)
}

// read dumps the table (RTM_GETNEIGH) into a new snapshot.
func (n *Neighbours) read(ctx context.Context, now time.Time) error {
	conn, err := rtnetlink.Dial(&netlink.Config{NetNS: n.opts.NetNS})
	if err != nil {
		return fmt.Errorf("neighbour table: %w", err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		if err := conn.SetReadDeadline(deadline); err != nil {
			return fmt.Errorf("neighbour table: %w", err)
		}
	}
	msgs, err := conn.Neigh.List()
	if err != nil {
		return fmt.Errorf("neighbour table: RTM_GETNEIGH: %w", err)
	}
	macs := make(map[[16]byte]dev.MAC, len(msgs))
	for _, m := range msgs {
		if m.Attributes == nil || m.State&(nudIncomplete|nudFailed|nudNoARP) != 0 {
			continue
		}
		addr, ok := netip.AddrFromSlice(m.Attributes.Address)
		mac, known := dev.MACFrom(m.Attributes.LLAddress)
		if ok && known {
			macs[addr.As16()] = mac
		}
	}
	n.cur.Store(&neighbourTable{macs: macs, read: now.UnixNano()})
	return nil
}

// Devices tells which device is behind a client address: its MAC from the
// neighbour table and its name from the DHCP leases.
type Devices struct {
	neighbours *Neighbours
	names      *atomic.Pointer[Names]
}

// NewDevices combines a neighbour table and the LAN's current names, which
// a reload swaps; either may be nil, and then that half is never known.
func NewDevices(neighbours *Neighbours, names *atomic.Pointer[Names]) *Devices {
	return &Devices{neighbours: neighbours, names: names}
}

// Device returns what is known of the device at addr at now, the zero
// Device when nothing is.
func (d *Devices) Device(addr netip.Addr, now time.Time) dev.Device {
	var out dev.Device
	if d.neighbours != nil {
		out.MAC, _ = d.neighbours.MAC(addr, now)
	}
	if d.names != nil {
		if n := d.names.Load(); n != nil {
			out.Host = n.leaseHosts[addr.Unmap().WithZone("")]
		}
	}
	return out
}
