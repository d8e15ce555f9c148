package resolver

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestBatchIO sends a batch, an empty datagram and one too long for its
// buffer among them, from one loopback socket to another, and reads it
// back with the same calls the reader makes.
func TestBatchIO(t *testing.T) {
	for _, network := range []string{"udp4", "udp6"} {
		t.Run(network, func(t *testing.T) {
			host := "127.0.0.1"
			if network == "udp6" {
				host = "::1"
			}
			listen := func() (*net.UDPConn, *batchIO) {
				c, err := net.ListenUDP(network, &net.UDPAddr{IP: net.ParseIP(host)})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				rc, err := c.SyscallConn()
				if err != nil {
					t.Fatal(err)
				}
				return c, newBatchIO(rc, 4)
			}
			from, sender := listen()
			to, receiver := listen()
			// The receiver learns the sender's raw address from a first
			// datagram, as the reader learns a client's.
			if _, err := from.WriteToUDP([]byte("hello"), to.LocalAddr().(*net.UDPAddr)); err != nil {
				t.Fatal(err)
			}
			bufs := [][]byte{make([]byte, 16), make([]byte, 16), make([]byte, 16), make([]byte, 16)}
			oobs := make([][]byte, 4)
			_ = to.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := receiver.recv(bufs[:1], oobs[:1]); err != nil || n != 1 {
				t.Fatalf("recv: %d datagrams, %v", n, err)
			}
			want := from.LocalAddr().(*net.UDPAddr).AddrPort()
			if got := receiver.peer(0); got.Addr().Unmap() != want.Addr() || got.Port() != want.Port() {
				t.Fatalf("peer %v, want %v", got, want)
			}
			// Sent back to that raw address: the receiver's socket
			// answers the sender.
			back := *receiver.from(0)
			batch := [][]byte{[]byte("one"), nil, bytes.Repeat([]byte("x"), 40), []byte("four")}
			var out []outgoing
			for _, wire := range batch {
				out = append(out, outgoing{wire: wire, to: &back})
			}
			if n, err := receiver.send(out); err != nil || n != len(out) {
				t.Fatalf("send: %d of %d, %v", n, len(out), err)
			}
			got := 0
			_ = from.SetReadDeadline(time.Now().Add(5 * time.Second))
			for got < len(batch) {
				n, err := sender.recv(bufs[got:], oobs[got:])
				if err != nil {
					t.Fatalf("recv after %d datagrams: %v", got, err)
				}
				for j := range n {
					i := got + j
					size, truncated := sender.size(j)
					wantSize, wantTrunc := min(len(batch[i]), 16), len(batch[i]) > 16
					if size != wantSize || truncated != wantTrunc || !bytes.Equal(bufs[i][:size], batch[i][:wantSize]) {
						t.Errorf("datagram %d: %q (truncated %v), want %q (truncated %v)", i, bufs[i][:size], truncated, batch[i][:wantSize], wantTrunc)
					}
				}
				got += n
			}
		})
	}
}

// failingReads makes the first reads of a socket fail in the kernel, as
// ENOMEM or ENOBUFS would under memory pressure: the call is made on a
// descriptor that is not open.
type failingReads struct {
	syscall.RawConn
	left int
}

func (f *failingReads) Read(fn func(fd uintptr) bool) error {
	if f.left > 0 {
		f.left--
		fn(^uintptr(0))
		return nil
	}
	return f.RawConn.Read(fn)
}

// A failed read is logged and retried; the server goes on answering.
func TestReaderSurvivesFailedReads(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	// No client is allowed, so every query is answered REFUSED at once.
	s := &Server{Pipeline: &ACL{}, Logger: slog.New(slog.NewTextHandler(&logged, nil))}
	u, err := newUDPServer(s, conn)
	if err != nil {
		t.Fatal(err)
	}
	u.rc = &failingReads{RawConn: u.rc, left: 3}
	done := make(chan error, 1)
	go func() { done <- u.serve() }()

	client, err := net.Dial("udp", conn.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	r, _, err := (&dns.Client{Timeout: 5 * time.Second}).ExchangeWithConn(new(dns.Msg).SetQuestion("example.test.", dns.TypeA), &dns.Conn{Conn: client})
	if err != nil {
		t.Fatalf("no answer after failed reads: %v", err)
	}
	if r.Rcode != dns.RcodeRefused {
		t.Fatalf("rcode %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
	conn.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not stop when its socket closed")
	}
	if n := strings.Count(logged.String(), "udp read failed, retrying"); n != 1 {
		t.Fatalf("%d warnings for 3 failed reads within %s, want 1:\n%s", n, failLogEvery, logged.String())
	}
}
