package resolver

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// Limits bound what clients can make the server hold.
type Limits struct {
	// TCPPerClient caps one client address's open TCP connections;
	// TCPTotal caps them all.
	TCPPerClient, TCPTotal int
	// Upstream caps queries waiting on upstreams; beyond it, new misses get
	// SERVFAIL at once instead of piling up behind a slow resolver.
	Upstream int
}

// limitedListener closes connections over the per-client or total cap as
// soon as they are accepted.
type limitedListener struct {
	net.Listener
	perClient, total int

	mu    sync.Mutex
	open  map[netip.Addr]int
	count int
}

func limitListener(l net.Listener, perClient, total int) net.Listener {
	if perClient <= 0 && total <= 0 {
		return l
	}
	return &limitedListener{Listener: l, perClient: perClient, total: total, open: map[netip.Addr]int{}}
}

// Accept returns the next connection within the limits; it closes the
// others itself.
func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := addrPort(c.RemoteAddr()).Addr()
		if l.take(addr) {
			return &limitedConn{Conn: c, release: func() { l.release(addr) }}, nil
		}
		c.Close()
	}
}

func (l *limitedListener) take(addr netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if (l.perClient > 0 && l.open[addr] >= l.perClient) || (l.total > 0 && l.count >= l.total) {
		return false
	}
	l.open[addr]++
	l.count++
	return true
}

func (l *limitedListener) release(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.count--
	if l.open[addr]--; l.open[addr] <= 0 {
		delete(l.open, addr)
	}
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// Close releases the connection's place once, however often it is called.
func (c *limitedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// filteredListener closes a connection from a client the pipeline does not
// answer as soon as it is accepted: otherwise disallowed addresses could
// hold every TCP place and leave allowed clients none.
type filteredListener struct {
	net.Listener
	filter ClientFilter
}

// Accept returns the next connection from an allowed client. One without
// an IP address (net.Pipe) is left to the check on every query.
func (l filteredListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if addr := addrPort(c.RemoteAddr()).Addr(); !addr.IsValid() || l.filter.Allows(addr) {
			return c, nil
		}
		c.Close()
	}
}

// tcpWriteTimeout bounds one write to a TCP client: one that stops reading
// must not hold its connection, and with it the server's shutdown, for
// ever. miekg/dns documents a WriteTimeout (2s) but never applies it.
const tcpWriteTimeout = 2 * time.Second

// writeBoundedListener gives every accepted connection a write deadline.
type writeBoundedListener struct{ net.Listener }

// Accept returns the next connection, its writes bounded.
func (l writeBoundedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return writeBoundedConn{c}, nil
}

type writeBoundedConn struct{ net.Conn }

// Write fails once tcpWriteTimeout passes without the client reading.
func (c writeBoundedConn) Write(b []byte) (int, error) {
	_ = c.SetWriteDeadline(time.Now().Add(tcpWriteTimeout))
	return c.Conn.Write(b)
}
