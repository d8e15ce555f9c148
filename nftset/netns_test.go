package nftset

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dnsward/dnsward/config"
	"github.com/dnsward/dnsward/internal/netnstest"
	"golang.org/x/sys/unix"
)

// The real-kernel tests build their own network namespaces and use nft
// there only to create the sets and read them back.

var nsSeq atomic.Int32

// netns creates a network namespace that t's cleanup removes, with its
// loopback up, and returns its name and an open descriptor of it.
func netns(t testing.TB) (string, int) {
	t.Helper()
	netnstest.Require(t, "ip", "nft")
	name := fmt.Sprintf("dwnft%d-%d", os.Getpid(), nsSeq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	f, err := os.Open("/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	netnstest.Run(t, "", "ip", "-n", name, "link", "set", "lo", "up")
	return name, int(f.Fd())
}

// nft loads a ruleset into the namespace.
func nft(t testing.TB, ns, ruleset string) {
	t.Helper()
	netnstest.Run(t, ruleset, "ip", "netns", "exec", ns, "nft", "-f", "-")
}

// elems lists a set's elements with their timeouts in seconds (0: none).
func elems(t testing.TB, ns string, ref SetRef) map[string]int {
	t.Helper()
	out := netnstest.Run(t, "", "ip", "netns", "exec", ns, "nft", "-j", "list", "set", ref.Family.String(), ref.Table, ref.Set)
	var doc struct {
		Nftables []struct {
			Set *struct {
				Elem []json.RawMessage `json:"elem"`
			} `json:"set"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("nft -j list set %s: %v\n%s", ref, err, out)
	}
	got := map[string]int{}
	for _, o := range doc.Nftables {
		if o.Set == nil {
			continue
		}
		for _, raw := range o.Set.Elem {
			var plain string
			if json.Unmarshal(raw, &plain) == nil {
				got[plain] = 0
				continue
			}
			var e struct {
				Elem struct {
					Val     string `json:"val"`
					Timeout int    `json:"timeout"`
				} `json:"elem"`
			}
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatalf("element %s: %v", raw, err)
			}
			got[e.Elem.Val] = e.Elem.Timeout
		}
	}
	return got
}

// inNS runs fn on a thread moved into the namespace; the thread is never
// unlocked, so it ends with its goroutine instead of serving others.
func inNS(fd int, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// withoutCapNetAdmin runs fn in the namespace fd on a thread without
// CAP_NET_ADMIN (capabilities are per thread, and the kernel checks those
// of the socket's opener).
func withoutCapNetAdmin(fd int, fn func() error) error {
	return inNS(fd, func() error {
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			return err
		}
		data[0].Effective &^= 1 << unix.CAP_NET_ADMIN
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			return err
		}
		return fn()
	})
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

const testSets = `
table inet f {
	set allow4 {
		type ipv4_addr
		flags timeout
	}
	set allow6 {
		type ipv6_addr
		flags timeout
	}
	set plain4 {
		type ipv4_addr
	}
	set ports {
		type inet_service
	}
	set nets {
		type ipv4_addr
		flags interval
	}
}
table ip6 g {
	set other6 {
		type ipv6_addr
		flags timeout
	}
}
`

var (
	allow4 = SetRef{Inet, "f", "allow4"}
	allow6 = SetRef{Inet, "f", "allow6"}
	plain4 = SetRef{Inet, "f", "plain4"}
	other6 = SetRef{IP6, "g", "other6"}
)

func TestAddFamiliesAndTimeouts(t *testing.T) {
	ns, fd := netns(t)
	nft(t, ns, testSets)
	f, err := New(context.Background(), Options{
		Rules: []Rule{
			{Domains: []string{"example.com"}, Sets: []SetRef{allow4, allow6, plain4}},
			{Domains: []string{"Other.Example.com.", "example.net"}, Sets: []SetRef{other6}},
		},
		Grace:      30 * time.Second,
		AddTimeout: 5 * time.Second, // the add's result, not the wait, is under test
		NetNS:      fd,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx := context.Background()

	if err := f.Add(ctx, "WWW.Example.COM.", addrs("10.214.9.1", "10.214.9.2", "fd00:214::1", "::ffff:10.214.9.3"), time.Minute); err != nil {
		t.Fatal(err)
	}
	// The most specific rule wins: its IPv6 set gets the AAAA, and the A has
	// no IPv4 set to go to.
	if err := f.Add(ctx, "a.other.example.com", addrs("10.214.9.9", "fd00:214::9"), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"example.org", "notexample.com", "com", "example.com.evil.net"} {
		if err := f.Add(ctx, name, addrs("10.214.9.66", "fd00:214::66"), time.Minute); err != nil {
			t.Fatal(err)
		}
	}

	for _, tc := range []struct {
		set  SetRef
		want map[string]int // maximum timeout in seconds; 0: none
	}{
		{allow4, map[string]int{"10.214.9.1": 90, "10.214.9.2": 90, "10.214.9.3": 90}},
		{allow6, map[string]int{"fd00:214::1": 90}},
		{plain4, map[string]int{"10.214.9.1": 0, "10.214.9.2": 0, "10.214.9.3": 0}},
		{other6, map[string]int{"fd00:214::9": 40}},
	} {
		got := elems(t, ns, tc.set)
		if len(got) != len(tc.want) {
			t.Errorf("%s holds %v, want %v", tc.set, got, tc.want)
			continue
		}
		for a, max := range tc.want {
			timeout, ok := got[a]
			switch {
			case !ok:
				t.Errorf("%s lacks %s: %v", tc.set, a, got)
			case max == 0 && timeout != 0:
				t.Errorf("%s %s has timeout %d s in a set without the flag", tc.set, a, timeout)
			case max > 0 && (timeout <= max-30 || timeout > max): // more than the TTL: the grace is in
				t.Errorf("%s %s timeout %d s, want in (%d, %d]", tc.set, a, timeout, max-30, max)
			}
		}
	}
	if st := f.Stats(); st != (Stats{Added: 2}) {
		t.Errorf("Stats = %+v, want 2 adds (names outside the rules send nothing)", st)
	}
}

func TestNewErrors(t *testing.T) {
	ns, fd := netns(t)
	nft(t, ns, testSets)
	for _, tc := range []struct {
		rule Rule
		want string
	}{
		{Rule{[]string{"example.com"}, []SetRef{{Inet, "f", "nosuch"}}}, "nftset inet f nosuch: no such set"},
		{Rule{[]string{"example.com"}, []SetRef{{Inet, "nosuch", "allow4"}}}, "nftset inet nosuch allow4: no such table inet nosuch"},
		{Rule{[]string{"example.com"}, []SetRef{{IP, "f", "allow4"}}}, "nftset ip f allow4: no such table ip f"},
		{Rule{[]string{"example.com"}, []SetRef{{IP6, "g", "allow6"}}}, "nftset ip6 g allow6: no such set"},
		{Rule{[]string{"example.com"}, []SetRef{allow4, {Inet, "f", "ports"}}}, "nftset inet f ports: set holds inet_service, not ipv4_addr or ipv6_addr"},
		{Rule{[]string{"example.com"}, []SetRef{{Inet, "f", "nets"}}}, "nftset inet f nets: has flags interval"},
		{Rule{[]string{"example.com"}, []SetRef{{Family: 9, Table: "f", Set: "allow4"}}}, "unknown family 9"},
		{Rule{[]string{"example..com"}, []SetRef{allow4}}, `nftset rule 1: domain "example..com": empty label`},
		{Rule{nil, []SetRef{allow4}}, "nftset rule 1: needs at least one domain and one set"},
	} {
		f, err := New(context.Background(), Options{Rules: []Rule{tc.rule}, NetNS: fd}, nil)
		if err == nil {
			f.Close()
			t.Errorf("%+v: no error, want %q", tc.rule, tc.want)
		} else if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %q, want %q", tc.rule, err, tc.want)
		}
	}
}

// TestNewNeedsCapNetAdmin opens the connection from a thread without
// CAP_NET_ADMIN (capabilities are per thread, and the kernel checks those of
// the socket's opener).
func TestNewNeedsCapNetAdmin(t *testing.T) {
	ns, fd := netns(t)
	nft(t, ns, testSets)
	err := withoutCapNetAdmin(fd, func() error {
		f, err := New(context.Background(), Options{Rules: []Rule{{[]string{"example.com"}, []SetRef{allow4}}}}, nil)
		if err == nil {
			f.Close()
		}
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "nftset inet f allow4: needs CAP_NET_ADMIN") {
		t.Fatalf("New without CAP_NET_ADMIN: %v", err)
	}
}

// TestKernelProblems: check-config's look at the kernel names each set
// that does not exist or cannot take addresses by its key, and says when
// it may not look.
func TestKernelProblems(t *testing.T) {
	ns, fd := netns(t)
	nft(t, ns, testSets)
	c := config.NftSet{Rules: []config.NftSetRule{
		{Domains: []string{"example.com"}, Sets: []string{"inet f allow4", "inet f nosuch"}},
		{Domains: []string{"example.org"}, Sets: []string{"ip6 g allow6", "inet f ports", "inet nosuch allow4"}},
	}}
	ps, err := KernelProblems(context.Background(), c, fd)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.Key+": "+p.Err.Error())
	}
	want := []string{
		"nftset.rules.0.sets.1: inet f nosuch: no such set",
		"nftset.rules.1.sets.0: ip6 g allow6: no such set",
		"nftset.rules.1.sets.1: inet f ports: set holds inet_service, not ipv4_addr or ipv6_addr",
		"nftset.rules.1.sets.2: inet nosuch allow4: no such table inet nosuch",
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	err = withoutCapNetAdmin(fd, func() error {
		ps, err := KernelProblems(context.Background(), c, 0)
		if len(ps) != 0 {
			return fmt.Errorf("problems without CAP_NET_ADMIN: %v", ps)
		}
		return err
	})
	if !errors.Is(err, ErrNeedsCapNetAdmin) {
		t.Errorf("without CAP_NET_ADMIN: %v, want ErrNeedsCapNetAdmin", err)
	}
}

// TestAddFailureCountedAndLogged deletes the set under a running Feeder:
// every add fails and is counted, and the log gets one line per 10 s of the
// injected clock.
func TestAddFailureCountedAndLogged(t *testing.T) {
	ns, fd := netns(t)
	nft(t, ns, testSets)
	var (
		mu  sync.Mutex
		now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		out bytes.Buffer
	)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	f, err := New(context.Background(), Options{
		Rules:      []Rule{{[]string{"example.com"}, []SetRef{allow4}}},
		AddTimeout: 5 * time.Second,
		NetNS:      fd,
		Now:        clock,
	}, slog.New(slog.NewTextHandler(&out, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	netnstest.Run(t, "", "ip", "netns", "exec", ns, "nft", "delete", "set", "inet", "f", "allow4")

	lines := func() int { mu.Lock(); defer mu.Unlock(); return strings.Count(out.String(), "\n") }
	for i, step := range []time.Duration{0, time.Second, 9 * time.Second} {
		mu.Lock()
		now = now.Add(step)
		mu.Unlock()
		err := f.Add(context.Background(), "www.example.com", addrs("10.214.9.1"), time.Minute)
		if err == nil || !strings.Contains(err.Error(), "nftset example.com: add:") {
			t.Fatalf("add %d to a deleted set: %v", i, err)
		}
		if want := uint64(i + 1); f.Stats().Failed != want {
			t.Fatalf("after add %d: Stats %+v, want %d failed", i, f.Stats(), want)
		}
		if want := []int{1, 1, 2}[i]; lines() != want {
			t.Fatalf("after add %d: %d log lines, want %d:\n%s", i, lines(), want, out.String())
		}
	}
}

// TestBatchFailureIsolated sends one batch of an add to a good set and one
// to a set deleted since New: the kernel refuses the whole transaction, and
// the good add must still land.
func TestBatchFailureIsolated(t *testing.T) {
	ns, fd := netns(t)
	nft(t, ns, testSets)
	f, err := New(context.Background(), Options{
		Rules: []Rule{{[]string{"good.example"}, []SetRef{allow4}}, {[]string{"bad.example"}, []SetRef{allow6}}}, NetNS: fd,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	netnstest.Run(t, "", "ip", "netns", "exec", ns, "nft", "delete", "set", "inet", "f", "allow6")
	good := &request{t: f.Sets("good.example"), addrs: addrs("10.214.9.1"), timeout: time.Minute, done: make(chan error, 1)}
	bad := &request{t: f.Sets("bad.example"), addrs: addrs("fd00:214::1"), timeout: time.Minute, done: make(chan error, 1)}
	f.flush([]*request{good, bad}) // as the owner would; it is idle, and the library locks the conn
	if err := <-good.done; err != nil {
		t.Errorf("good add failed with the bad one: %v", err)
	}
	if err := <-bad.done; err == nil {
		t.Error("add to a deleted set succeeded")
	}
	if got := elems(t, ns, allow4); len(got) != 1 {
		t.Errorf("%s holds %v, want the good add", allow4, got)
	}
	if st := f.Stats(); st != (Stats{Added: 1, Failed: 1}) {
		t.Errorf("Stats = %+v", st)
	}
}

// TestLateAddLands waits 1 ns for the kernel: Add may return ErrLate, but
// the element still arrives.
func TestLateAddLands(t *testing.T) {
	ns, fd := netns(t)
	nft(t, ns, testSets)
	f, err := New(context.Background(), Options{
		Rules: []Rule{{[]string{"example.com"}, []SetRef{allow4}}}, AddTimeout: time.Nanosecond, NetNS: fd,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = f.Add(context.Background(), "example.com", addrs("10.214.9.1"), time.Minute)
	if err != nil && !errors.Is(err, ErrLate) {
		t.Fatal(err)
	}
	if errors.Is(err, ErrLate) && f.Stats().Late != 1 {
		t.Errorf("ErrLate not counted: %+v", f.Stats())
	}
	for deadline := time.Now().Add(10 * time.Second); len(elems(t, ns, allow4)) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the late add never reached the set")
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

// TestFirewall routes a client namespace through a router namespace whose
// forward chain drops all but established flows and @allow4, to a server
// namespace with a TCP listener.
func TestFirewall(t *testing.T) {
	cli, cliFD := netns(t)
	rtr, rtrFD := netns(t)
	srv, srvFD := netns(t)
	for _, c := range [][]string{
		{"ip", "-n", cli, "link", "add", "c0", "type", "veth", "peer", "name", "r0", "netns", rtr},
		{"ip", "-n", srv, "link", "add", "s0", "type", "veth", "peer", "name", "r1", "netns", rtr},
		{"ip", "-n", cli, "addr", "add", "10.214.1.2/24", "dev", "c0"},
		{"ip", "-n", rtr, "addr", "add", "10.214.1.1/24", "dev", "r0"},
		{"ip", "-n", rtr, "addr", "add", "10.214.2.1/24", "dev", "r1"},
		{"ip", "-n", srv, "addr", "add", "10.214.2.2/24", "dev", "s0"},
		{"ip", "-n", cli, "link", "set", "c0", "up"},
		{"ip", "-n", rtr, "link", "set", "r0", "up"},
		{"ip", "-n", rtr, "link", "set", "r1", "up"},
		{"ip", "-n", srv, "link", "set", "s0", "up"},
		{"ip", "-n", cli, "route", "add", "default", "via", "10.214.1.1"},
		{"ip", "-n", srv, "route", "add", "default", "via", "10.214.2.1"},
		{"ip", "netns", "exec", rtr, "sysctl", "-qw", "net.ipv4.ip_forward=1"},
	} {
		netnstest.Run(t, "", c...)
	}
	nft(t, rtr, `
table inet fw {
	set allow4 {
		type ipv4_addr
		flags timeout
	}
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept
		ip daddr @allow4 accept
	}
}
`)
	var ln net.Listener
	if err := inNS(srvFD, func() (err error) { ln, err = net.Listen("tcp", "10.214.2.2:8080"); return err }); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	dial := func(timeout time.Duration) error {
		return inNS(cliFD, func() error {
			c, err := net.DialTimeout("tcp", "10.214.2.2:8080", timeout)
			if err == nil {
				c.Close()
			}
			return err
		})
	}

	if err := dial(300 * time.Millisecond); err == nil {
		t.Fatal("connected before the add: the forward chain lets everything through")
	}
	t.Log("before Add: connect dropped")
	fw := SetRef{Inet, "fw", "allow4"}
	f, err := New(context.Background(), Options{
		Rules: []Rule{{[]string{"allowed.example"}, []SetRef{fw}}}, AddTimeout: 5 * time.Second, NetNS: rtrFD,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Add(context.Background(), "other.example", addrs("10.214.2.2"), time.Second); err != nil {
		t.Fatal(err)
	}
	if err := dial(300 * time.Millisecond); err == nil {
		t.Fatal("connected after an answer for a name outside the rules")
	}
	t.Log("after an answer for other.example: connect dropped")
	if err := f.Add(context.Background(), "www.allowed.example", addrs("10.214.2.2"), time.Second); err != nil {
		t.Fatal(err)
	}
	if err := dial(5 * time.Second); err != nil {
		t.Fatalf("connect after the add: %v", err)
	}
	t.Log("after Add of www.allowed.example: connected")
	// The kernel drops the element after its 1 s timeout; poll for that.
	start := time.Now()
	for len(elems(t, rtr, fw)) > 0 {
		if time.Since(start) > 15*time.Second {
			t.Fatal("the element outlived its timeout by 14 s")
		}
		time.Sleep(50 * time.Millisecond) // poll interval, not a wait for time to pass
	}
	if err := dial(300 * time.Millisecond); err == nil {
		t.Fatal("connected after the element's timeout")
	}
	t.Logf("after the element expired (%v): connect dropped", time.Since(start).Round(100*time.Millisecond))
}

// TestExampleRuleset loads packaging/examples/egress.nft and feeds its sets.
func TestExampleRuleset(t *testing.T) {
	ns, fd := netns(t)
	ruleset, err := os.ReadFile("../packaging/examples/egress.nft")
	if err != nil {
		t.Fatal(err)
	}
	nft(t, ns, string(ruleset))
	v4, v6 := SetRef{Inet, "egress", "allow4"}, SetRef{Inet, "egress", "allow6"}
	f, err := New(context.Background(), Options{
		Rules: []Rule{{[]string{"example.com"}, []SetRef{v4, v6}}}, Grace: 5 * time.Minute, AddTimeout: 5 * time.Second, NetNS: fd,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Add(context.Background(), "example.com", addrs("10.214.9.1", "fd00:214::1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := elems(t, ns, v4); len(got) != 1 {
		t.Errorf("%s holds %v", v4, got)
	}
	if got := elems(t, ns, v6); len(got) != 1 {
		t.Errorf("%s holds %v", v6, got)
	}
}

// BenchmarkAdd adds one address per call to a set with the timeout flag,
// from one caller and from 16 at once, with the owner batching the adds
// waiting (batch=64) or sending each alone (batch=1).
func BenchmarkAdd(b *testing.B) {
	ns, fd := netns(b)
	nft(b, ns, testSets)
	feeder := func(b *testing.B, batch int) *Feeder {
		f, err := New(context.Background(), Options{
			Rules: []Rule{{[]string{"example.com"}, []SetRef{allow4}}}, AddTimeout: 5 * time.Second, NetNS: fd, batchMax: batch,
		}, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { f.Close() })
		return f
	}
	var seq atomic.Uint32
	add := func(b *testing.B, f *Feeder) {
		n := seq.Add(1)
		a := netip.AddrFrom4([4]byte{10, 214, byte(n >> 8), byte(n)})
		if err := f.Add(context.Background(), "www.example.com", []netip.Addr{a}, time.Minute); err != nil {
			b.Error(err)
		}
	}
	b.Run("serial", func(b *testing.B) {
		f := feeder(b, 0)
		for b.Loop() {
			add(b, f)
		}
	})
	for _, batch := range []int{1, maxBatch} {
		b.Run(fmt.Sprintf("parallel16/batch=%d", batch), func(b *testing.B) {
			f := feeder(b, batch)
			b.SetParallelism(16 / runtime.GOMAXPROCS(0))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					add(b, f)
				}
			})
		})
	}
}
