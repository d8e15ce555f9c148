package flows

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/dnsward/dnsward/internal/netnstest"
	"github.com/dnsward/dnsward/internal/testwait"
)

// labRuleset is the router's: a default-deny forward chain that lets
// through the addresses in @allow and logs the rest to nflog group 21.
const labRuleset = `
table inet dwflows {
	set allow {
		type ipv4_addr
		elements = { 10.215.2.2, 10.215.2.3, 10.215.2.4 }
	}
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept
		ip daddr @allow accept
		log prefix "dnsward-drop " group 21
		drop
	}
}
`

const labGroup = 21

// newLab builds a LAN in network namespaces: a client (10.215.1.2)
// behind a router (10.215.1.1, .2.1, .3.1) that forwards to a server
// namespace (10.215.2.2-.6) under labRuleset, and a namespace for a
// dnsward that is not on the router (10.215.3.2).
func newLab(t *testing.T) *netnstest.Lab {
	t.Helper()
	l := netnstest.New(t, "dwflows", []string{"rt", "cl", "sv", "dw"}, "nft")
	l.Link("rt", "cl", "r0", "c0", "10.215.1.1/24", "10.215.1.2/24")
	l.Link("rt", "sv", "r1", "s0", "10.215.2.1/24", "10.215.2.2/24")
	l.Link("rt", "dw", "r2", "d0", "10.215.3.1/24", "10.215.3.2/24")
	for _, a := range []string{"3", "4", "5", "6"} {
		l.IP("sv", "addr add 10.215.2."+a+"/24 dev s0")
	}
	l.Exec("rt", "", "sysctl", "-qw", "net.ipv4.ip_forward=1")
	l.Exec("rt", labRuleset, "nft", "-f", "-")
	return l
}

// records collects a pipeline's records and finds them by destination.
type records struct {
	ch   chan Flow
	seen []Flow
}

func (r *records) next(t *testing.T, dest string) Flow {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case f := <-r.ch:
			r.seen = append(r.seen, f)
			if f.Dest.String() == dest {
				t.Logf("record: %v %v > %v %v prefix=%q attribution=%v names=%v repeats=%d", f.Verdict, f.Client, f.Dest, f.Proto, f.Prefix, f.Attribution, nameList(f.Names), f.Repeats)
				return f
			}
		case <-deadline:
			t.Fatalf("no record for %s within 10 s; seen %v", dest, r.seen)
		}
	}
}

func nameList(ns []Name) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Client.String()+":"+n.Name)
	}
	return out
}

// run starts a source's Run until the test ends.
func run(t *testing.T, wg *sync.WaitGroup, ctx context.Context, name string, r func(context.Context) error) {
	wg.Go(func() {
		if err := r(ctx); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	})
}

// TestFlowsInNetns runs every source against a real kernel: conntrack
// and nflog on the router, syslog from the router to a dnsward in its
// own namespace. A fixed in-memory Lookuper holds the answers the clients
// "were given", at times the test sets; cmd/dnsward's TestFlowsNetns runs
// the whole of dnsward, answer index included.
func TestFlowsInNetns(t *testing.T) {
	l := newLab(t)
	clock := newFakeClock(t0)
	client, other := ip("10.215.1.2"), ip("10.215.1.3")
	lk := mapLookuper{}
	for _, a := range []struct {
		who        netip.Addr
		name, dest string
	}{
		{client, "allowed.example", "10.215.2.2"},
		{other, "other.example", "10.215.2.4"},
		{client, "blocked.example", "10.215.2.5"},
		{client, "retry.example", "10.215.2.6"},
	} {
		lk.add(a.who, a.name, ip(a.dest), t0.Add(-time.Minute), t0.Add(time.Hour))
	}
	recs := &records{ch: make(chan Flow, 256)}
	p := NewPipeline(PipelineOptions{Lookuper: lk, Emit: func(f Flow) { recs.ch <- f }, Now: clock.Now})
	src := SourceOptions{
		Filter: Filter{Clients: pfx("10.215.1.0/24"), DNSAddrs: []netip.Addr{ip("10.215.1.1")}},
		Now:    clock.Now,
	}
	var ctPrio, nlPrio, slPrio priorities
	ctSrc, nlSrc := src, src
	ctSrc.Emit, nlSrc.Emit = ctPrio.wrap(p.Handle), nlPrio.wrap(p.Handle)

	ct, err := NewConntrack(ConntrackOptions{SourceOptions: ctSrc, NetNS: l.FD("rt")})
	if err != nil {
		t.Fatal(err)
	}
	nl, err := NewNflog(NflogOptions{SourceOptions: nlSrc, NetNS: l.FD("rt"), Group: labGroup})
	if err != nil {
		ct.Close()
		t.Fatal(err)
	}
	// The remote dnsward: its own pipeline, as it would run elsewhere.
	srecs := &records{ch: make(chan Flow, 16)}
	sp := NewPipeline(PipelineOptions{Lookuper: lk, Emit: func(f Flow) { srecs.ch <- f }, Now: clock.Now})
	var sl *Syslog
	err = l.In("dw", func() (err error) {
		sl, err = NewSyslog(SyslogOptions{SourceOptions: SourceOptions{Filter: src.Filter, Emit: slPrio.wrap(sp.Handle), Now: clock.Now},
			UDP: "10.215.3.2:0", TCP: "10.215.3.2:0", Senders: pfx("10.215.3.0/24")})
		return err
	})
	if err != nil {
		ct.Close()
		nl.Close()
		t.Fatal(err)
	}
	var server net.Listener
	if err := l.In("sv", func() (err error) { server, err = net.Listen("tcp", "0.0.0.0:8080"); return err }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		server.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := server.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	})
	run(t, &wg, ctx, "conntrack", ct.Run)
	run(t, &wg, ctx, "nflog", nl.Run)
	run(t, &wg, ctx, "syslog", sl.Run)

	// DNS to the router itself is the lookup, not a flow.
	if err := l.In("cl", func() error {
		c, err := net.Dial("udp", "10.215.1.1:53")
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("not really a query"))
		return err
	}); err != nil {
		t.Fatal(err)
	}

	t.Run("1 allowed, same client", func(t *testing.T) {
		local, err := l.Connect("cl", "10.215.2.2:8080")
		if err != nil {
			t.Fatal(err)
		}
		f := recs.next(t, "10.215.2.2:8080")
		if f.Verdict != VerdictNew || f.Client != local || f.Proto != ProtoTCP || f.Attribution != SameClient ||
			len(f.Names) != 1 || f.Names[0].Name != "allowed.example" {
			t.Fatalf("record %+v", f)
		}
	})
	t.Run("2 nobody resolved, no_lookup", func(t *testing.T) {
		if _, err := l.Connect("cl", "10.215.2.3:8080"); err != nil {
			t.Fatal(err)
		}
		if f := recs.next(t, "10.215.2.3:8080"); f.Attribution != NoLookup || f.Names != nil {
			t.Fatalf("record %+v", f)
		}
	})
	t.Run("3 another client resolved, other_client", func(t *testing.T) {
		if _, err := l.Connect("cl", "10.215.2.4:8080"); err != nil {
			t.Fatal(err)
		}
		f := recs.next(t, "10.215.2.4:8080")
		if f.Attribution != OtherClient || len(f.Names) != 1 || f.Names[0].Client != other || f.Names[0].Name != "other.example" {
			t.Fatalf("record %+v", f)
		}
	})
	var dropped Flow
	t.Run("4 dropped, nflog", func(t *testing.T) {
		port, err := l.SYN("cl", ap("10.215.2.5:8080"))
		if err != nil {
			t.Fatal(err)
		}
		dropped = recs.next(t, "10.215.2.5:8080")
		if dropped.Verdict != VerdictDropped || dropped.Prefix != "dnsward-drop" || dropped.Client.Port() != port ||
			dropped.Attribution != SameClient || dropped.Names[0].Name != "blocked.example" {
			t.Fatalf("record %+v", dropped)
		}
	})
	t.Run("4b dropped, syslog from the router", func(t *testing.T) {
		netnstest.Require(t, "logger")
		if dropped.Verdict == 0 {
			t.Skip("skipped: case 4 found no drop")
		}
		// The line the router's kernel writes for this drop with `log
		// prefix "dnsward-drop "`; the kernel does not log packets of a
		// namespace other than the first one to the ring buffer, so the
		// test writes it from the dropped packet's fields.
		line := fmt.Sprintf("[ 8123.456789] dnsward-drop IN=r0 OUT=r1 MAC=02:00:00:00:00:01:02:00:00:00:00:02:08:00 SRC=%s DST=%s LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=4711 DF PROTO=TCP SPT=%d DPT=%d WINDOW=64240 RES=0x00 SYN URGP=0",
			dropped.Client.Addr(), dropped.Dest.Addr(), dropped.Client.Port(), dropped.Dest.Port())
		udp := sl.UDPAddr().(*net.UDPAddr)
		tcp := sl.TCPAddr().(*net.TCPAddr)
		l.Exec("rt", "", "logger", "--server", udp.IP.String(), "--port", fmt.Sprint(udp.Port), "--udp", "--rfc3164", "-t", "kernel", "--", line)
		f := srecs.next(t, dropped.Dest.String())
		if f.Client != dropped.Client || f.Verdict != dropped.Verdict || f.Prefix != dropped.Prefix || f.Attribution != dropped.Attribution ||
			fmt.Sprint(nameList(f.Names)) != fmt.Sprint(nameList(dropped.Names)) {
			t.Fatalf("syslog record %+v\nnflog record %+v", f, dropped)
		}
		// The same line over TCP, RFC 5424 with octet counting: same key,
		// so it folds into the window instead of a second record.
		l.Exec("rt", "", "logger", "--server", tcp.IP.String(), "--port", fmt.Sprint(tcp.Port), "--tcp", "--octet-count", "--rfc5424", "-t", "kernel", "--", line)
		testwait.Until(t, "TCP line folded", func() bool { return sp.Stats().Folded == 1 })
		if st := sl.Stats(); st.Kept != 2 || st.Malformed != 0 || st.Rejected != 0 {
			t.Fatalf("syslog stats %+v", st)
		}
	})
	t.Run("5 retrying every 100 ms for 3 s, one record with a repeat count", func(t *testing.T) {
		const tries = 30
		before := p.Stats().Folded
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := range tries {
			if i > 0 {
				<-tick.C
			}
			if _, err := l.SYN("cl", ap("10.215.2.6:8080")); err != nil {
				t.Fatal(err)
			}
		}
		if f := recs.next(t, "10.215.2.6:8080"); f.Repeats != 0 || f.Attribution != SameClient {
			t.Fatalf("first record %+v", f)
		}
		testwait.Until(t, "retries folded", func() bool { return p.Stats().Folded-before >= tries-1 })
		clock.Advance(DefaultWindow) // the injected clock ends the window
		p.Expire()
		f := recs.next(t, "10.215.2.6:8080")
		if f.Repeats != tries-1 || f.Verdict != VerdictDropped || f.Attribution != SameClient || f.Names[0].Name != "retry.example" {
			t.Fatalf("summary %+v", f)
		}
	})

	for _, f := range recs.seen {
		if f.Dest.Port() == 53 {
			t.Errorf("DNS to dnsward became a record: %+v", f)
		}
	}
	t.Logf("conntrack %+v; nflog %+v; syslog %+v; pipeline %+v", ct.Stats(), nl.Stats(), sl.Stats(), p.Stats())
	if st := ct.Stats(); st.Events <= st.Kept {
		t.Errorf("conntrack read no event it left out (the DNS one): %+v", st)
	}
	ctPrio.check(t, "conntrack")
	nlPrio.check(t, "nflog")
	slPrio.check(t, "syslog")
}
