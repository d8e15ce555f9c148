package flows

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/dnsward/dnsward/internal/testwait"
)

// startSyslog runs a listener on loopback until the test ends; it fails
// the test if a flow was emitted at normal priority.
func startSyslog(t *testing.T, senders string, flows chan<- Flow) *Syslog {
	t.Helper()
	var prio priorities
	s, err := NewSyslog(SyslogOptions{
		SourceOptions: SourceOptions{Emit: prio.wrap(func(f Flow) { flows <- f })},
		UDP:           "127.0.0.1:0", TCP: "127.0.0.1:0",
		Senders:        pfx(senders),
		LoggedPrefixes: []string{"dnsward-log"},
		MaxLine:        1024,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Registered first, so run after Run has ended.
	t.Cleanup(func() {
		if prio.calls.Load() > 0 {
			prio.check(t, "syslog")
		}
	})
	runSyslog(t, s)
	return s
}

// runSyslog runs s until the test ends, failing it if Run fails.
func runSyslog(t *testing.T, s *Syslog) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func recvFlow(t *testing.T, flows <-chan Flow) Flow {
	t.Helper()
	select {
	case f := <-flows:
		return f
	case <-time.After(10 * time.Second):
		t.Fatal("no flow within 10 s")
		return Flow{}
	}
}

func TestSyslogListener(t *testing.T) {
	flows := make(chan Flow, 16)
	s := startSyslog(t, "127.0.0.0/8", flows)
	line := func(prefix string, dport int) string {
		return fmt.Sprintf("<4>Dec  1 12:00:01 gw kernel: %s IN=eth1 OUT=eth0 SRC=192.168.1.23 DST=203.0.113.5 PROTO=TCP SPT=40512 DPT=%d SYN", prefix, dport)
	}

	u, err := net.Dial("udp", s.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	// A malformed datagram and a non-packet line first: both are counted
	// and the listener reads on.
	for _, d := range []string{"garbage", "<4>Dec  1 12:00:01 gw sshd[1]: accepted", line("dnsward-drop", 25)} {
		if _, err := u.Write([]byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	if f := recvFlow(t, flows); f.Dest.Port() != 25 || f.Verdict != VerdictDropped || f.Prefix != "dnsward-drop" {
		t.Fatalf("UDP flow %+v", f)
	}

	c, err := net.Dial("tcp", s.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	oct := func(l string) string { return fmt.Sprintf("%d %s", len(l), l) }
	stream := oct(line("dnsward-log", 80)) + // octet counting, no LF after
		line("dnsward-drop", 81) + "\n" + // newline framing, switched mid-stream
		"<4>" + strings.Repeat("x", 2000) + "\n" + // over MaxLine: dropped, stream goes on
		"\n" + oct("<4>not a packet") + oct(line("dnsward-drop", 82))
	if _, err := c.Write([]byte(stream)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		port    uint16
		verdict Verdict
	}{{80, VerdictLogged}, {81, VerdictDropped}, {82, VerdictDropped}} {
		if f := recvFlow(t, flows); f.Dest.Port() != want.port || f.Verdict != want.verdict {
			t.Fatalf("TCP flow %+v, want port %d %v", f, want.port, want.verdict)
		}
	}
	// A count past MaxLine loses the framing: the connection ends.
	if _, err := c.Write([]byte("99999 <4>x")); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, "bad frame counted", func() bool { return s.Stats().Malformed == 3 })
	st := s.Stats()
	if st.Kept != 4 || st.NotPacket != 2 || st.Rejected != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSyslogRejectsSenders(t *testing.T) {
	flows := make(chan Flow, 1)
	s := startSyslog(t, "192.0.2.0/24", flows)
	u, err := net.Dial("udp", s.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if _, err := u.Write([]byte("<4>kernel: IN=eth1 SRC=192.168.1.23 DST=203.0.113.5 PROTO=TCP SPT=1 DPT=2")); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, "datagram rejected", func() bool { return s.Stats().Rejected == 1 })
	c, err := net.Dial("tcp", s.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	testwait.Until(t, "connection rejected", func() bool { return s.Stats().Rejected == 2 })
	if st := s.Stats(); st.Lines != 0 || len(flows) != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSyslogBadOptions(t *testing.T) {
	for _, o := range []SyslogOptions{
		{Senders: pfx("127.0.0.0/8")},
		{UDP: "127.0.0.1:0"},
		{UDP: "127.0.0.1:notaport", Senders: pfx("127.0.0.0/8")},
	} {
		if s, err := NewSyslog(o); err == nil {
			s.Close()
			t.Errorf("%+v accepted", o)
		} else if !strings.HasPrefix(err.Error(), "syslog flows: ") {
			t.Errorf("error %q does not say what", err)
		}
	}
}

// TestSyslogUDPHoldsBurst sends a burst of lines before the listener
// reads any, as when a busy router's scheduler keeps the reader waiting:
// the socket's buffer holds them all (the default held about 200).
func TestSyslogUDPHoldsBurst(t *testing.T) {
	const n = 2000
	raw, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		t.Skipf("skipped: %v", err)
	}
	if rmax, _ := strconv.Atoi(strings.TrimSpace(string(raw))); rmax < 2<<20 {
		t.Skipf("skipped: net.core.rmem_max %d caps the receive buffer below the burst's 2 MiB", rmax)
	}
	var kept atomic.Int64
	s, err := NewSyslog(SyslogOptions{
		SourceOptions: SourceOptions{Emit: func(Flow) { kept.Add(1) }},
		UDP:           "127.0.0.1:0", Senders: pfx("127.0.0.0/8"),
	})
	if err != nil {
		t.Fatal(err)
	}
	u, err := net.Dial("udp", s.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	for i := range n {
		if _, err := fmt.Fprintf(u, "<4>Dec  1 12:00:01 OpenWrt kernel: [%d.5] %s", i, kernelV4); err != nil {
			t.Fatal(err)
		}
	}
	runSyslog(t, s)
	testwait.Until(t, fmt.Sprintf("%d lines kept", n), func() bool { return kept.Load() == n })
}

// TestSyslogCountsDrops overflows the UDP socket's buffer before the
// reader starts: every datagram sent is then either read or counted as
// dropped by the kernel.
func TestSyslogCountsDrops(t *testing.T) {
	s, err := NewSyslog(SyslogOptions{SourceOptions: SourceOptions{Emit: func(Flow) {}}, UDP: "127.0.0.1:0", Senders: pfx("127.0.0.0/8")})
	if err != nil {
		t.Fatal(err)
	}
	// A buffer of a few datagrams, so that a few hundred overflow it.
	if err := s.udp.SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	u, err := net.Dial("udp", s.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	line := []byte("<4>Dec  1 12:00:01 gw kernel: dnsward-drop IN=eth1 OUT=eth0 SRC=192.168.1.23 DST=203.0.113.5 PROTO=TCP SPT=40512 DPT=25 SYN")
	const n = 500
	send := func() {
		if _, err := u.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		send()
	}
	runSyslog(t, s)
	testwait.Until(t, "the buffer read", func() bool { return s.Stats().Lines > 0 })
	// The kernel reports a count with the next datagram it queues, so
	// one more, into a buffer with room, carries every drop.
	send()
	testwait.Until(t, "every datagram read or counted dropped", func() bool { st := s.Stats(); return st.Lines+st.Dropped == n+1 })
	if st := s.Stats(); st.Dropped == 0 || st.Lines < 2 {
		t.Errorf("stats %+v: want some datagrams read and some dropped", st)
	}
}

// A UDP line is parsed in the read buffer itself: the prefix a flow keeps
// must not change when later datagrams reuse that buffer.
func TestSyslogUDPPrefixOutlivesBuffer(t *testing.T) {
	const n = 3 * syslogBatch
	flows := make(chan Flow, n)
	s := startSyslog(t, "127.0.0.0/8", flows)
	u, err := net.Dial("udp", s.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	for i := range n {
		if _, err := fmt.Fprintf(u, "<4>Dec  1 12:00:01 gw kernel: p%03d-drop IN=eth1 OUT=eth0 SRC=192.168.1.23 DST=203.0.113.5 PROTO=TCP SPT=40512 DPT=%d SYN", i, 1000+i); err != nil {
			t.Fatal(err)
		}
	}
	var got []Flow
	for range n {
		got = append(got, recvFlow(t, flows))
	}
	for _, f := range got {
		if want := fmt.Sprintf("p%03d-drop", f.Dest.Port()-1000); f.Prefix != want {
			t.Errorf("flow to port %d: prefix %q, want %q", f.Dest.Port(), f.Prefix, want)
		}
	}
}

// TestFrameReader reads streams whole and a byte per read, so that every
// frame also spans buffer fills: each frame is returned as sent, an
// over-long line is reported and skipped, and a bad count ends the stream.
func TestFrameReader(t *testing.T) {
	long := strings.Repeat("x", 40)
	tests := []struct {
		name, stream string
		want         []string // frames, then "!" + the error that ends the stream
	}{
		{"octet counting", "5 hello3 abc", []string{"hello", "abc", "!EOF"}},
		{"newline framing", "one\ntwo\r\n\nthree", []string{"one\n", "two\r\n", "three", "!EOF"}},
		{"mixed", "3 abcdef\n4 ghij", []string{"abc", "def\n", "ghij", "!EOF"}},
		{"empty frame", "0 3 abc", []string{"", "abc", "!EOF"}},
		{"line too long", "a" + long + "\nok\n", []string{"!line too long", "ok\n", "!EOF"}},
		{"count too long", "41 " + long + "z", []string{"!bad octet-counted frame"}},
		{"count not a number", "12x abc", []string{"!bad octet-counted frame"}},
		{"count of seven digits", "1234567 abc", []string{"!bad octet-counted frame"}},
		{"frame cut short", "10 abc", []string{"!unexpected EOF"}},
	}
	for _, tt := range tests {
		for _, oneByte := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/one byte %v", tt.name, oneByte), func(t *testing.T) {
				var r io.Reader = strings.NewReader(tt.stream)
				if oneByte {
					r = iotest.OneByteReader(r)
				}
				fr := newFrameReader(r, 40)
				var got []string
				for len(got) < 10 {
					f, err := fr.next()
					if err == nil {
						got = append(got, strings.Clone(f))
						continue
					}
					if errors.Is(err, errTooLong) {
						got = append(got, "!"+err.Error())
						continue
					}
					got = append(got, "!"+err.Error())
					break
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Errorf("frames %q, want %q", got, tt.want)
				}
			})
		}
	}
}
