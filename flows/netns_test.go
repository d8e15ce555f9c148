package flows

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// lab is a LAN in network namespaces: a client (10.215.1.2) behind a
// router (10.215.1.1, .2.1, .3.1) that forwards to a server namespace
// (10.215.2.2-.6) under an nftables default-deny forward chain, and a
// namespace for a dnsward that is not on the router (10.215.3.2).
type lab struct {
	t    *testing.T
	name map[string]string
}

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

func newLab(t *testing.T) *lab {
	t.Helper()
	const skip = "skipped: needs root and network namespaces"
	if os.Geteuid() != 0 {
		t.Skip(skip)
	}
	for _, p := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skip(skip + " (no " + p + ")")
		}
	}
	l := &lab{t: t, name: map[string]string{}}
	for _, role := range []string{"rt", "cl", "sv", "dw"} {
		n := fmt.Sprintf("dwflows-%d-%s", os.Getpid(), role)
		if out, err := exec.Command("ip", "netns", "add", n).CombinedOutput(); err != nil {
			t.Skipf("%s (ip netns add: %v: %s)", skip, err, out)
		}
		t.Cleanup(func() { exec.Command("ip", "netns", "del", n).Run() })
		l.name[role] = n
		l.ip(role, "link set lo up")
	}
	for _, link := range []struct{ peer, r, p, raddr, paddr string }{
		{"cl", "r0", "c0", "10.215.1.1/24", "10.215.1.2/24"},
		{"sv", "r1", "s0", "10.215.2.1/24", "10.215.2.2/24"},
		{"dw", "r2", "d0", "10.215.3.1/24", "10.215.3.2/24"},
	} {
		l.ip("rt", fmt.Sprintf("link add %s type veth peer name %s netns %s", link.r, link.p, l.name[link.peer]))
		l.ip("rt", "addr add "+link.raddr+" dev "+link.r)
		l.ip("rt", "link set up dev "+link.r)
		l.ip(link.peer, "addr add "+link.paddr+" dev "+link.p)
		l.ip(link.peer, "link set up dev "+link.p)
		l.ip(link.peer, "route add default via "+strings.TrimSuffix(link.raddr, "/24"))
	}
	for _, a := range []string{"3", "4", "5", "6"} {
		l.ip("sv", "addr add 10.215.2."+a+"/24 dev s0")
	}
	l.exec("rt", "", "sysctl", "-qw", "net.ipv4.ip_forward=1")
	l.exec("rt", labRuleset, "nft", "-f", "-")
	return l
}

func (l *lab) ip(role, args string) {
	l.t.Helper()
	if out, err := exec.Command("ip", append([]string{"-n", l.name[role]}, strings.Fields(args)...)...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip -n %s %s: %v: %s", role, args, err, out)
	}
}

func (l *lab) exec(role, stdin string, args ...string) {
	l.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.name[role]}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		l.t.Fatalf("in %s: %v: %v: %s", role, args, err, out)
	}
}

// fd opens the namespace for a netlink socket to be dialled in.
func (l *lab) fd(role string) int {
	l.t.Helper()
	f, err := os.Open("/run/netns/" + l.name[role])
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { f.Close() })
	return int(f.Fd())
}

// in runs f on a thread moved into the namespace, so that the sockets f
// opens live there; the thread goes back before other goroutines get it.
func (l *lab) in(role string, f func() error) error {
	runtime.LockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer self.Close()
	target, err := os.Open("/run/netns/" + l.name[role])
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns %s: %w", role, err)
	}
	defer func() {
		// A thread that cannot go back ends with its goroutine.
		if unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return f()
}

// syn sends one TCP SYN from the client to dst and returns its port:
// the socket does not wait for an answer a dropped flow never gets.
func (l *lab) syn(dst netip.AddrPort) (uint16, error) {
	var port uint16
	err := l.in("cl", func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.Connect(fd, &unix.SockaddrInet4{Port: int(dst.Port()), Addr: dst.Addr().As4()}); !errors.Is(err, unix.EINPROGRESS) {
			return fmt.Errorf("connect %v: %w", dst, err)
		}
		sa, err := unix.Getsockname(fd)
		if err != nil {
			return err
		}
		port = uint16(sa.(*unix.SockaddrInet4).Port)
		return nil
	})
	return port, err
}

// connect opens and closes a TCP connection from the client to dst.
func (l *lab) connect(dst string) (netip.AddrPort, error) {
	var local netip.AddrPort
	err := l.in("cl", func() error {
		c, err := net.DialTimeout("tcp", dst, 10*time.Second)
		if err != nil {
			return err
		}
		local = c.LocalAddr().(*net.TCPAddr).AddrPort()
		return c.Close()
	})
	return local, err
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
// own namespace. The answer index is not on this branch: a fixed
// in-memory Lookuper built here holds the answers the clients "were
// given"; the integrator wires the real one.
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
		Emit:   p.Handle,
		Now:    clock.Now,
	}

	ct, err := NewConntrack(ConntrackOptions{SourceOptions: src, NetNS: l.fd("rt")})
	if err != nil {
		t.Fatal(err)
	}
	nl, err := NewNflog(NflogOptions{SourceOptions: src, NetNS: l.fd("rt"), Group: labGroup})
	if err != nil {
		ct.Close()
		t.Fatal(err)
	}
	// The remote dnsward: its own pipeline, as it would run elsewhere.
	srecs := &records{ch: make(chan Flow, 16)}
	sp := NewPipeline(PipelineOptions{Lookuper: lk, Emit: func(f Flow) { srecs.ch <- f }, Now: clock.Now})
	var sl *Syslog
	err = l.in("dw", func() (err error) {
		sl, err = NewSyslog(SyslogOptions{SourceOptions: SourceOptions{Filter: src.Filter, Emit: sp.Handle, Now: clock.Now},
			UDP: "10.215.3.2:0", TCP: "10.215.3.2:0", Senders: pfx("10.215.3.0/24")})
		return err
	})
	if err != nil {
		ct.Close()
		nl.Close()
		t.Fatal(err)
	}
	var server net.Listener
	if err := l.in("sv", func() (err error) { server, err = net.Listen("tcp", "0.0.0.0:8080"); return err }); err != nil {
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
	if err := l.in("cl", func() error {
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
		local, err := l.connect("10.215.2.2:8080")
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
		if _, err := l.connect("10.215.2.3:8080"); err != nil {
			t.Fatal(err)
		}
		if f := recs.next(t, "10.215.2.3:8080"); f.Attribution != NoLookup || f.Names != nil {
			t.Fatalf("record %+v", f)
		}
	})
	t.Run("3 another client resolved, other_client", func(t *testing.T) {
		if _, err := l.connect("10.215.2.4:8080"); err != nil {
			t.Fatal(err)
		}
		f := recs.next(t, "10.215.2.4:8080")
		if f.Attribution != OtherClient || len(f.Names) != 1 || f.Names[0].Client != other || f.Names[0].Name != "other.example" {
			t.Fatalf("record %+v", f)
		}
	})
	var dropped Flow
	t.Run("4 dropped, nflog", func(t *testing.T) {
		port, err := l.syn(ap("10.215.2.5:8080"))
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
		if _, err := exec.LookPath("logger"); err != nil || dropped.Verdict == 0 {
			t.Skip("skipped: needs logger (util-linux) and case 4")
		}
		// The line the router's kernel writes for this drop with `log
		// prefix "dnsward-drop "`; the kernel does not log packets of a
		// namespace other than the first one to the ring buffer, so the
		// test writes it from the dropped packet's fields.
		line := fmt.Sprintf("[ 8123.456789] dnsward-drop IN=r0 OUT=r1 MAC=02:00:00:00:00:01:02:00:00:00:00:02:08:00 SRC=%s DST=%s LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=4711 DF PROTO=TCP SPT=%d DPT=%d WINDOW=64240 RES=0x00 SYN URGP=0",
			dropped.Client.Addr(), dropped.Dest.Addr(), dropped.Client.Port(), dropped.Dest.Port())
		udp := sl.UDPAddr().(*net.UDPAddr)
		tcp := sl.TCPAddr().(*net.TCPAddr)
		l.exec("rt", "", "logger", "--server", udp.IP.String(), "--port", fmt.Sprint(udp.Port), "--udp", "--rfc3164", "-t", "kernel", "--", line)
		f := srecs.next(t, dropped.Dest.String())
		if f.Client != dropped.Client || f.Verdict != dropped.Verdict || f.Prefix != dropped.Prefix || f.Attribution != dropped.Attribution ||
			fmt.Sprint(nameList(f.Names)) != fmt.Sprint(nameList(dropped.Names)) {
			t.Fatalf("syslog record %+v\nnflog record %+v", f, dropped)
		}
		// The same line over TCP, RFC 5424 with octet counting: same key,
		// so it folds into the window instead of a second record.
		l.exec("rt", "", "logger", "--server", tcp.IP.String(), "--port", fmt.Sprint(tcp.Port), "--tcp", "--octet-count", "--rfc5424", "-t", "kernel", "--", line)
		waitFor(t, "TCP line folded", func() bool { return sp.Stats().Folded == 1 })
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
			if _, err := l.syn(ap("10.215.2.6:8080")); err != nil {
				t.Fatal(err)
			}
		}
		if f := recs.next(t, "10.215.2.6:8080"); f.Repeats != 0 || f.Attribution != SameClient {
			t.Fatalf("first record %+v", f)
		}
		waitFor(t, "retries folded", func() bool { return p.Stats().Folded-before >= tries-1 })
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
}
