package flows

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/dnsward/dnsward/internal/mmsg"
)

// Defaults for the zero SyslogOptions fields.
const (
	DefaultSyslogMaxConns = 16
	DefaultSyslogMaxLine  = 8192
)

// syslogReadBuffer is the UDP socket's receive buffer (the kernel caps it
// at net.core.rmem_max): the default's ~200 datagrams last 10 ms at
// 20,000 lines/s, less than a busy router's scheduler may keep the reader
// waiting, so lines were lost in bursts; the DNS listener's is as large.
const syslogReadBuffer = 8 << 20

// SyslogOptions configure a Syslog listener.
type SyslogOptions struct {
	SourceOptions
	// UDP and TCP are the addresses to listen on ("host:port"); either
	// may be empty, not both.
	UDP, TCP string
	// Senders are the networks whose lines are accepted; required.
	Senders []netip.Prefix
	// LoggedPrefixes are the log prefixes of packets logged and let
	// through (verdict logged); every other prefix means dropped.
	LoggedPrefixes []string
	// MaxConns bounds the TCP connections served at once;
	// DefaultSyslogMaxConns when zero.
	MaxConns int
	// MaxLine bounds a line's length; DefaultSyslogMaxLine when zero.
	MaxLine int
}

// SyslogStats count a Syslog listener's lines, for metrics.
type SyslogStats struct {
	// Lines is every syslog line received from an accepted sender.
	Lines uint64
	// Kept is the lines emitted as flows.
	Kept uint64
	// Malformed is the lines whose syslog framing or header is invalid.
	Malformed uint64
	// NotPacket is the valid syslog lines that are not a packet log.
	NotPacket uint64
	// Rejected is the datagrams and connections from senders not
	// allowed, and connections past MaxConns.
	Rejected uint64
	// Errors is the read and accept failures.
	Errors uint64
	// Dropped is the UDP datagrams the kernel dropped for a full receive
	// buffer, as it last reported (SO_RXQ_OVFL).
	Dropped uint64
}

// Syslog receives a remote firewall's kernel packet-log lines over
// syslog (UDP datagrams; TCP with octet counting or newline framing,
// RFC 6587) in RFC 3164 or RFC 5424 format. The header is parsed with
// the standard library: only the message after it matters, and routers'
// RFC 3164 headers vary more than a strict parser accepts.
type Syslog struct {
	o       SyslogOptions
	udp     *net.UDPConn
	tcp     net.Listener
	log     limitedLog
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
	closing atomic.Bool
	done    chan struct{} // closed by Close
	once    sync.Once

	lines, kept, malformed, notPacket, rejected, errs, dropped atomic.Uint64
	prefixes                                                   interned
}

// interned holds one copy of each log prefix seen, up to maxInterned:
// a firewall logs with a handful, and every flow record keeps one.
type interned struct {
	mu sync.Mutex
	m  map[string]string
}

const maxInterned = 256

// get returns a copy of s that outlives the buffer s may be a view of.
func (t *interned) get(s string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.m[s]; ok {
		return c
	}
	c := strings.Clone(s)
	if len(t.m) < maxInterned {
		if t.m == nil {
			t.m = map[string]string{}
		}
		t.m[c] = c
	}
	return c
}

// NewSyslog listens on o's addresses, so that a bad or busy address is
// an error at start.
func NewSyslog(o SyslogOptions) (*Syslog, error) {
	o.fill()
	if o.UDP == "" && o.TCP == "" {
		return nil, errors.New("syslog flows: no UDP or TCP address to listen on")
	}
	if len(o.Senders) == 0 {
		return nil, errors.New("syslog flows: no sender networks allowed")
	}
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultSyslogMaxConns
	}
	if o.MaxLine <= 0 {
		o.MaxLine = DefaultSyslogMaxLine
	}
	s := &Syslog{o: o, log: limitedLog{logger: o.Logger, now: o.Now}, conns: map[net.Conn]struct{}{}, done: make(chan struct{})}
	var err error
	if o.UDP != "" {
		ua, err := net.ResolveUDPAddr("udp", o.UDP)
		if err == nil {
			s.udp, err = net.ListenUDP("udp", ua)
		}
		if err != nil {
			return nil, fmt.Errorf("syslog flows: listen on UDP %s: %w", o.UDP, err)
		}
		_ = s.udp.SetReadBuffer(syslogReadBuffer)
		// The kernel then tells each read how many datagrams it dropped
		// for a full buffer: at full CPU the reader, at background
		// priority, may fall behind, and the loss must show.
		if err := setRxqOvfl(s.udp); err != nil {
			s.Close()
			return nil, fmt.Errorf("syslog flows: UDP %s: count dropped datagrams (SO_RXQ_OVFL): %w", o.UDP, err)
		}
	}
	if o.TCP != "" {
		if s.tcp, err = net.Listen("tcp", o.TCP); err != nil {
			s.Close()
			return nil, fmt.Errorf("syslog flows: listen on TCP %s: %w", o.TCP, err)
		}
	}
	return s, nil
}

// UDPAddr is the UDP address listened on, nil when none.
func (s *Syslog) UDPAddr() net.Addr {
	if s.udp == nil {
		return nil
	}
	return s.udp.LocalAddr()
}

// TCPAddr is the TCP address listened on, nil when none.
func (s *Syslog) TCPAddr() net.Addr {
	if s.tcp == nil {
		return nil
	}
	return s.tcp.Addr()
}

// Run serves until ctx is done, then closes the sockets and waits for
// every connection's reader to end.
func (s *Syslog) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	if s.udp != nil {
		s.wg.Go(s.serveUDP)
	}
	if s.tcp != nil {
		s.wg.Go(s.serveTCP)
	}
	s.wg.Wait()
	return s.Close()
}

// Close closes the sockets and connections; Run returns.
func (s *Syslog) Close() error {
	var err error
	s.once.Do(func() {
		s.closing.Store(true)
		close(s.done)
		if s.udp != nil {
			err = s.udp.Close()
		}
		if s.tcp != nil {
			err = errors.Join(err, s.tcp.Close())
		}
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	})
	return err
}

// Stats returns the counters so far.
func (s *Syslog) Stats() SyslogStats {
	return SyslogStats{Lines: s.lines.Load(), Kept: s.kept.Load(), Malformed: s.malformed.Load(),
		NotPacket: s.notPacket.Load(), Rejected: s.rejected.Load(), Errors: s.errs.Load(), Dropped: s.dropped.Load()}
}

func (s *Syslog) allowed(a netip.Addr) bool {
	for _, p := range s.o.Senders {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// failed handles a socket error: true when it is the socket closing,
// else it is counted and logged, and the caller tries again shortly.
func (s *Syslog) failed(msg string, err error) (closed bool) {
	if s.closing.Load() {
		return true
	}
	s.errs.Add(1)
	s.log.log(msg, err)
	pause(s.done)
	return false
}

// syslogBatch is how many datagrams one read takes: a router's burst of
// log lines is read in one system call rather than one each.
const syslogBatch = 32

func (s *Syslog) serveUDP() {
	toBackground(&s.log, "syslog flows")
	rc, err := s.udp.SyscallConn()
	if err != nil {
		s.failed("syslog flows: UDP socket", err)
		return
	}
	in := mmsg.New(rc, syslogBatch)
	bufs, oobs := make([][]byte, syslogBatch), make([][]byte, syslogBatch)
	for i := range bufs {
		bufs[i] = make([]byte, s.o.MaxLine)
		oobs[i] = make([]byte, unix.CmsgSpace(4))
	}
	for {
		n, err := in.Recv(bufs, oobs)
		if err != nil {
			if s.failed("syslog flows: UDP read failed", err) {
				return
			}
			continue
		}
		// The batch's last datagram carries the latest count.
		if n > 0 {
			if d, ok := rxqDrops(oobs[n-1][:in.OOBLen(n-1)]); ok {
				s.dropped.Store(uint64(d))
			}
		}
		for i := range n {
			if !s.allowed(in.Peer(i).Addr()) {
				s.rejected.Add(1)
				continue
			}
			// A line longer than MaxLine is cut there, as a stream's is.
			// It is read in place, not copied: line keeps nothing of it
			// but the prefix, which it copies, and at 20,000 lines a
			// second a copy each was most of the garbage dnsward made.
			size, _ := in.Size(i)
			s.line(unsafe.String(unsafe.SliceData(bufs[i]), size))
		}
	}
}

func (s *Syslog) serveTCP() {
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			if s.failed("syslog flows: TCP accept failed", err) {
				return
			}
			continue
		}
		if !s.allowed(remoteAddr(c)) || !s.track(c) {
			s.rejected.Add(1)
			c.Close()
			continue
		}
		s.wg.Go(func() {
			defer s.untrack(c)
			s.serveConn(c)
		})
	}
}

// remoteAddr is c's peer address; invalid, so never allowed, when it is
// not TCP.
func remoteAddr(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr()
	}
	return netip.Addr{}
}

// track registers c so that Close can end its reader; false when
// closing or MaxConns are served.
func (s *Syslog) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() || len(s.conns) >= s.o.MaxConns {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Syslog) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

// serveConn reads frames until the peer closes or framing is lost.
func (s *Syslog) serveConn(c net.Conn) {
	toBackground(&s.log, "syslog flows")
	fr := newFrameReader(c, s.o.MaxLine)
	for {
		line, err := fr.next()
		switch {
		case errors.Is(err, errFraming):
			// An octet count past MaxLine or not a number: where the
			// next frame starts is unknown, so the connection ends.
			s.malformed.Add(1)
			return
		case errors.Is(err, errTooLong):
			s.malformed.Add(1)
			continue
		case err != nil:
			if !errors.Is(err, io.EOF) && !s.closing.Load() {
				s.errs.Add(1)
				s.log.log("syslog flows: TCP read failed", err)
			}
			return
		}
		if line != "" {
			s.line(line)
		}
	}
}

var (
	errFraming = errors.New("bad octet-counted frame")
	errTooLong = errors.New("line too long")
)

// frameReader reads RFC 6587 frames from a stream: "LEN SP MSG" when a
// frame starts with a digit (octet counting), else a line up to LF
// (non-transparent). Each frame is a view of its buffer, valid until the
// next call, as each datagram of the UDP source is: copied, every line
// cost two allocations.
type frameReader struct {
	r       *bufio.Reader
	maxLine int
}

// frameBuffer is a stream's read buffer: a router's burst of lines in
// one read, and room for the longest frame to be viewed in place.
const frameBuffer = 64 << 10

func newFrameReader(c io.Reader, maxLine int) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(c, max(frameBuffer, maxLine+1)), maxLine: maxLine}
}

// next returns the next frame, "" for an empty one.
func (f *frameReader) next() (string, error) {
	r := f.r
	c, err := r.ReadByte()
	for err == nil && (c == '\n' || c == '\r') {
		c, err = r.ReadByte()
	}
	if err != nil {
		return "", err
	}
	if c >= '0' && c <= '9' {
		n := int(c - '0')
		for digits := 1; ; digits++ {
			if c, err = r.ReadByte(); err != nil {
				return "", err
			}
			if c == ' ' {
				break
			}
			if c < '0' || c > '9' || digits >= 6 {
				return "", errFraming
			}
			n = n*10 + int(c-'0')
		}
		if n > f.maxLine {
			return "", errFraming
		}
		b, err := r.Peek(n)
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // the peer closed inside a frame
		}
		if err != nil {
			return "", err
		}
		_, _ = r.Discard(n) // the bytes stay in the buffer until the next read
		return unsafe.String(unsafe.SliceData(b), n), nil
	}
	_ = r.UnreadByte() // c starts the line
	line, err := r.ReadSlice('\n')
	if len(line) > f.maxLine || errors.Is(err, bufio.ErrBufferFull) {
		// Drop the rest of the over-long line, then report it.
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = r.ReadSlice('\n')
		}
		if err != nil {
			return "", err
		}
		return "", errTooLong
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	// A last line without LF is returned; the next call meets EOF.
	return unsafe.String(unsafe.SliceData(line), len(line)), nil
}

// line parses one syslog line into a flow.
func (s *Syslog) line(l string) {
	s.lines.Add(1)
	msg, ok := parseSyslog(l)
	if !ok {
		s.malformed.Add(1)
		return
	}
	f, ok := parseKernelLog(msg)
	if !ok {
		s.notPacket.Add(1)
		return
	}
	f.Time = s.o.Now()
	f.Prefix = s.prefixes.get(f.Prefix)
	f.Verdict = verdictFor(f.Prefix, s.o.LoggedPrefixes)
	if !s.o.Filter.Keep(&f) {
		return
	}
	s.kept.Add(1)
	s.o.Emit(f)
}

// setRxqOvfl asks the kernel to report the socket's drop count with each
// datagram read.
func setRxqOvfl(c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1) }); err != nil {
		return err
	}
	return serr
}

// rxqDrops is the drop count in a datagram's control message: the only
// one the socket asks for, so the first. The kernel leaves it out while
// nothing was dropped.
func rxqDrops(oob []byte) (uint32, bool) {
	if len(oob) < unix.CmsgLen(4) {
		return 0, false
	}
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	if h.Level != unix.SOL_SOCKET || h.Type != unix.SO_RXQ_OVFL {
		return 0, false
	}
	return binary.NativeEndian.Uint32(oob[unix.CmsgLen(0):]), true
}
