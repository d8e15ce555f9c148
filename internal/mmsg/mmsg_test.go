package mmsg

import (
	"bytes"
	"net"
	"testing"
	"time"
)

// TestBatch sends a batch, an empty datagram and one too long for its
// buffer among them, from one loopback socket to another, and reads it
// back with the same calls the reader makes.
func TestBatch(t *testing.T) {
	for _, network := range []string{"udp4", "udp6"} {
		t.Run(network, func(t *testing.T) {
			host := "127.0.0.1"
			if network == "udp6" {
				host = "::1"
			}
			listen := func() (*net.UDPConn, *Batch) {
				c, err := net.ListenUDP(network, &net.UDPAddr{IP: net.ParseIP(host)})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				rc, err := c.SyscallConn()
				if err != nil {
					t.Fatal(err)
				}
				return c, New(rc, 4)
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
			if n, err := receiver.Recv(bufs[:1], oobs[:1]); err != nil || n != 1 {
				t.Fatalf("recv: %d datagrams, %v", n, err)
			}
			want := from.LocalAddr().(*net.UDPAddr).AddrPort()
			if got := receiver.Peer(0); got.Addr().Unmap() != want.Addr() || got.Port() != want.Port() {
				t.Fatalf("peer %v, want %v", got, want)
			}
			// Sent back to that raw address: the receiver's socket
			// answers the sender.
			back := *receiver.From(0)
			batch := [][]byte{[]byte("one"), nil, bytes.Repeat([]byte("x"), 40), []byte("four")}
			var out []Datagram
			for _, wire := range batch {
				out = append(out, Datagram{Wire: wire, To: &back})
			}
			if n, err := receiver.Send(out); err != nil || n != len(out) {
				t.Fatalf("send: %d of %d, %v", n, len(out), err)
			}
			got := 0
			_ = from.SetReadDeadline(time.Now().Add(5 * time.Second))
			for got < len(batch) {
				n, err := sender.Recv(bufs[got:], oobs[got:])
				if err != nil {
					t.Fatalf("recv after %d datagrams: %v", got, err)
				}
				for j := range n {
					i := got + j
					size, truncated := sender.Size(j)
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

// TestNoAllocations: a send and a read of a batch allocate nothing, as
// they run for every batch of the DNS listener.
func TestNoAllocations(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	b := New(rc, 1)
	bufs, oobs := [][]byte{make([]byte, 16)}, make([][]byte, 1)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	// The socket's raw address, learnt from a datagram it sent itself,
	// as the reader learns a client's.
	if _, err := c.WriteToUDP([]byte("hello"), c.LocalAddr().(*net.UDPAddr)); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Recv(bufs, oobs); err != nil || n != 1 {
		t.Fatalf("recv: %d, %v", n, err)
	}
	self := *b.From(0)
	out := []Datagram{{Wire: []byte("ping"), To: &self}}
	allocs := testing.AllocsPerRun(100, func() {
		if n, err := b.Send(out); err != nil || n != 1 {
			t.Fatalf("send: %d, %v", n, err)
		}
		if n, err := b.Recv(bufs, oobs); err != nil || n != 1 {
			t.Fatalf("recv: %d, %v", n, err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per send and read, want 0", allocs)
	}
}
