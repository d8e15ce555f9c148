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
