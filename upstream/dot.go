package upstream

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dnsward/dnsward/internal/interrupt"
	"github.com/miekg/dns"
)

// Pipelining bounds: a connection takes up to dotPerConn queries in flight
// before another one opens, and at most dotMaxConns are open, after which
// the least loaded one takes more. Many queries then share one TLS
// handshake, and a server sees a few connections, not one per query.
const (
	dotPerConn  = 64
	dotMaxConns = 8
)

// errConnLost is why the queries in flight on a connection fail when it
// ends: the server closed it, or it broke.
var errConnLost = errors.New("connection lost")

// dotConn is one TLS connection: writers take turns, and its reader hands
// each reply to the query waiting for its ID.
type dotConn struct {
	c net.Conn
	// inflight counts the queries assigned to the connection, for the
	// choice of one.
	inflight atomic.Int32
	// replied is when the reader last got a reply (Unix ns).
	replied atomic.Int64

	wmu sync.Mutex // one message written at a time

	mu      sync.Mutex
	pending map[uint16]chan *dns.Msg
	nextID  uint16
	err     error // why the connection ended; nil while it lives
}

// Exchange asks over a kept connection, or a new one when each is full.
// A query on a kept connection that ends meanwhile (the server closed it
// while idle) is asked again over a new one rather than counted as the
// upstream's failure.
func (d *DoT) Exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	for {
		dc, kept, err := d.pick(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d, err)
		}
		r, err := dc.exchange(ctx, m)
		dc.inflight.Add(-1)
		if err == nil {
			return r, nil
		}
		if !kept || !errors.Is(err, errConnLost) || ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", d, err)
		}
	}
}

// pick returns a connection with room for one more query, counted in its
// inflight, and whether it was open before: the least loaded open one, or
// a new one. One dial at a time: the queries that arrive meanwhile wait
// for it, so that a burst opens one connection rather than one each.
func (d *DoT) pick(ctx context.Context) (*dotConn, bool, error) {
	for {
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			return nil, false, ErrClosed
		}
		var best *dotConn
		for _, dc := range d.conns {
			if best == nil || dc.inflight.Load() < best.inflight.Load() {
				best = dc
			}
		}
		if best != nil && (best.inflight.Load() < dotPerConn || len(d.conns) >= dotMaxConns) {
			best.inflight.Add(1)
			d.mu.Unlock()
			return best, true, nil
		}
		if w := d.dialing; w != nil {
			d.mu.Unlock()
			select {
			case <-w:
				continue
			case <-ctx.Done():
				return nil, false, ctx.Err()
			}
		}
		w := make(chan struct{})
		d.dialing = w
		d.mu.Unlock()

		c, err := (&tls.Dialer{Config: d.tls}).DialContext(ctx, "tcp", d.target.addr)
		d.mu.Lock()
		d.dialing = nil
		close(w)
		if err == nil && d.closed {
			c.Close()
			err = ErrClosed
		}
		if err != nil {
			d.mu.Unlock()
			return nil, false, err
		}
		dc := &dotConn{c: c, pending: make(map[uint16]chan *dns.Msg)}
		dc.inflight.Add(1)
		d.conns = append(d.conns, dc)
		d.readers.Go(func() { d.read(dc) })
		d.mu.Unlock()
		return dc, false, nil
	}
}

// read hands each reply on dc to its query until the connection ends, then
// fails the queries still waiting and forgets the connection.
func (d *DoT) read(dc *dotConn) {
	var lenBuf [2]byte
	var err error
	for {
		if _, err = io.ReadFull(dc.c, lenBuf[:]); err != nil {
			break
		}
		buf := make([]byte, binary.BigEndian.Uint16(lenBuf[:]))
		if _, err = io.ReadFull(dc.c, buf); err != nil {
			break
		}
		dc.replied.Store(time.Now().UnixNano())
		r := new(dns.Msg)
		if r.Unpack(buf) != nil {
			continue // a reply no query can use; its query times out
		}
		dc.mu.Lock()
		ch := dc.pending[r.Id]
		delete(dc.pending, r.Id)
		dc.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}
	d.mu.Lock()
	for i, c := range d.conns {
		if c == dc {
			d.conns = append(d.conns[:i], d.conns[i+1:]...)
			break
		}
	}
	d.mu.Unlock()
	dc.c.Close()
	dc.mu.Lock()
	dc.err = fmt.Errorf("%w: %w", errConnLost, err)
	for id, ch := range dc.pending {
		close(ch)
		delete(dc.pending, id)
	}
	dc.mu.Unlock()
}

// exchange sends m under an ID of the connection's own, so that replies
// can be told apart, and waits for the reply, which gets m's ID back.
func (dc *dotConn) exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	wire, err := packPadded(m)
	if err != nil {
		return nil, err
	}
	ch := make(chan *dns.Msg, 1)
	dc.mu.Lock()
	if dc.err != nil {
		err := dc.err
		dc.mu.Unlock()
		return nil, err
	}
	id := dc.nextID
	for dc.pending[id] != nil {
		id++
	}
	dc.nextID = id + 1
	dc.pending[id] = ch
	dc.mu.Unlock()

	sent := time.Now().UnixNano()
	out := make([]byte, 2+len(wire))
	binary.BigEndian.PutUint16(out, uint16(len(wire)))
	copy(out[2:], wire)
	binary.BigEndian.PutUint16(out[2:], id)
	if err := dc.write(ctx, out); err != nil {
		// The reader sees the broken connection too and fails the rest.
		dc.c.Close()
		dc.forget(id)
		return nil, fmt.Errorf("%w: %w", errConnLost, err)
	}
	select {
	case r, ok := <-ch:
		if !ok {
			dc.mu.Lock()
			err := dc.err
			dc.mu.Unlock()
			return nil, err
		}
		r.Id = m.Id
		if err := check(m, r); err != nil {
			return nil, err
		}
		return r, nil
	case <-ctx.Done():
		dc.forget(id)
		if dc.replied.Load() < sent {
			// Nothing came back since this query went out: a connection
			// the server no longer answers on is closed, so that the next
			// queries open a new one instead of waiting on it too.
			dc.c.Close()
		}
		return nil, ctx.Err()
	}
}

// write sends one framed message, within ctx's deadline.
func (dc *dotConn) write(ctx context.Context, out []byte) error {
	dc.wmu.Lock()
	defer dc.wmu.Unlock()
	deadline, _ := ctx.Deadline()
	_ = dc.c.SetWriteDeadline(deadline)
	defer interrupt.On(ctx, dc.c.SetWriteDeadline)()
	_, err := dc.c.Write(out)
	return err
}

// forget drops a query that no longer waits for its reply.
func (dc *dotConn) forget(id uint16) {
	dc.mu.Lock()
	delete(dc.pending, id)
	dc.mu.Unlock()
}

// Close closes the connections, which fails the queries in flight, and
// waits for their readers.
func (d *DoT) Close() error {
	d.mu.Lock()
	d.closed = true
	for _, dc := range d.conns {
		dc.c.Close()
	}
	d.mu.Unlock()
	d.readers.Wait()
	return nil
}
