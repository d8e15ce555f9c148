package engine

import (
	"context"
	"errors"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dnsward/dnsward/config"
	"github.com/dnsward/dnsward/lan"
)

// neighboursReadTimeout bounds the neighbour table's first read at start.
const neighboursReadTimeout = 2 * time.Second

// devices is who is behind a client address, for every record.
type devices struct {
	*lan.Devices
	// neighbours is the table the MACs come from, nil when
	// devices.neighbours is off.
	neighbours *lan.Neighbours
}

// newDevices ties client addresses to devices: by the host names of the
// DHCP leases in names always, as they cost one map lookup, and by the
// kernel's neighbour table when devices.neighbours is on. The table is
// read at most once per lan.DefaultNeighbourMaxAge, or per
// lan.DefaultNeighbourMissGap for an address missing from it, never per
// query, and a read under way makes other queries use the last one.
func newDevices(cfg *config.Config, names *atomic.Pointer[lan.Names]) *devices {
	d := &devices{}
	if cfg.Devices.Neighbours {
		d.neighbours = lan.NewNeighbours(lan.NeighbourOptions{})
	}
	d.Devices = lan.NewDevices(d.neighbours, names)
	return d
}

// refreshNeighbours reads the neighbour table once, at start, and says in the log
// if it cannot be read, which the query path, keeping quiet, would not.
func (e *Engine) refreshNeighbours(ctx context.Context) {
	if e.devices.neighbours == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, neighboursReadTimeout)
	defer cancel()
	err := e.devices.neighbours.Refresh(ctx)
	switch {
	case err == nil:
		return
	case errors.Is(err, syscall.EAFNOSUPPORT), errors.Is(err, syscall.EPERM):
		e.logger.Warn("devices: the neighbour table cannot be read, so records carry no MAC addresses: "+
			"allow AF_NETLINK (systemd: RestrictAddressFamilies), or set devices.neighbours to false", "err", err)
	default:
		e.logger.Warn("devices: the neighbour table cannot be read; records carry no MAC addresses until it can", "err", err)
	}
}
