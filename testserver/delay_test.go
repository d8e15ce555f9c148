package testserver

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestDelayHoldsEveryAnswer checks that no answer comes before its delay,
// over plain DNS and over both DNSCrypt servers' paths.
func TestDelayHoldsEveryAnswer(t *testing.T) {
	const delay = 80 * time.Millisecond
	s := ForTestWith(t, Options{Delay: delay})
	c := &dns.Client{Timeout: 5 * time.Second}
	for i, name := range []string{"d1.gen.test.", "d2.gen.test.", "d3.gen.test."} {
		start := time.Now()
		r, _, err := c.Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), s.PlainAddr)
		if err != nil {
			t.Fatalf("query %d: %v", i, err)
		}
		if took := time.Since(start); took < delay {
			t.Errorf("query %d answered after %s, before the %s delay", i, took, delay)
		}
		if len(r.Answer) != 1 {
			t.Errorf("query %d: answer %v", i, r.Answer)
		}
	}
}

// TestLoweredDelayOvertakes checks that a query made after SetDelay lowered
// the delay is answered by its own deadline, not behind earlier queries.
func TestLoweredDelayOvertakes(t *testing.T) {
	s := ForTestWith(t, Options{Delay: time.Hour})
	conn, err := net.Dial("udp", s.PlainAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	send := func(name string) {
		t.Helper()
		wire, err := new(dns.Msg).SetQuestion(name, dns.TypeA).Pack()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(wire); err != nil {
			t.Fatal(err)
		}
	}
	send("slow.gen.test.")
	waitQueries(t, s, "slow.gen.test.")
	s.SetDelay(10 * time.Millisecond)
	send("fast.gen.test.")
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, dns.MaxMsgSize)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	r := new(dns.Msg)
	if err := r.Unpack(buf[:n]); err != nil {
		t.Fatal(err)
	}
	if got := r.Question[0].Name; got != "fast.gen.test." {
		t.Errorf("first answer is for %s, want fast.gen.test.", got)
	}
}

// TestCloseReleasesDelayedAnswers checks that Close does not wait out the
// delay of queries in flight.
func TestCloseReleasesDelayedAnswers(t *testing.T) {
	s, err := Start(Options{Delay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("udp", s.PlainAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	wire, err := new(dns.Msg).SetQuestion("held.gen.test.", dns.TypeA).Pack()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(wire); err != nil {
		t.Fatal(err)
	}
	waitQueries(t, s, "held.gen.test.")
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close still waiting for a delayed answer after 10s")
	}
}

// waitQueries waits until name's query has reached the server.
func waitQueries(t *testing.T, s *Server, name string) {
	t.Helper()
	for range 500 {
		if s.Queries(name) > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never reached the server", name)
}
