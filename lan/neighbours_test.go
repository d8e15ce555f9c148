package lan

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dev "github.com/dnsward/dnsward/answers"
	"github.com/dnsward/dnsward/internal/netnstest"
)

// netnsPair is two network namespaces joined by a veth pair: "here" is
// dnsward's side, whose neighbour table is read; "peer" is a LAN client.
type netnsPair struct {
	here, peer         string // namespace names
	hereLink, peerLink string
	hereFD             int
}

const (
	hereV4, peerV4 = "10.213.0.1", "10.213.0.2"
	hereV6, peerV6 = "fd00:213::1", "fd00:213::2"
)

// newNetnsPair builds the namespaces, named after the pid so that parallel
// runs do not meet, and removes them when the test ends.
func newNetnsPair(t *testing.T) *netnsPair {
	t.Helper()
	netnstest.Require(t, "ip")
	id := fmt.Sprint(os.Getpid())
	p := &netnsPair{here: "dwnh" + id, peer: "dwnp" + id, hereLink: "dwh" + id, peerLink: "dwp" + id}
	if out, err := exec.Command("ip", "netns", "add", p.here).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", p.here, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", p.here).Run() })
	ipCmd(t, "netns", "add", p.peer)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", p.peer).Run() })
	ipCmd(t, "link", "add", p.hereLink, "netns", p.here, "type", "veth", "peer", "name", p.peerLink, "netns", p.peer)
	for _, side := range []struct{ ns, link, v4, v6 string }{{p.here, p.hereLink, hereV4, hereV6}, {p.peer, p.peerLink, peerV4, peerV6}} {
		ipCmd(t, "-n", side.ns, "addr", "add", side.v4+"/24", "dev", side.link)
		ipCmd(t, "-n", side.ns, "addr", "add", side.v6+"/64", "dev", side.link, "nodad")
		ipCmd(t, "-n", side.ns, "link", "set", side.link, "up")
	}
	f, err := os.Open("/run/netns/" + p.here)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	p.hereFD = int(f.Fd())
	return p
}

func ipCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// peerMAC is the peer's veth address, as ip reports it.
func (p *netnsPair) peerMAC(t *testing.T) dev.MAC {
	t.Helper()
	var links []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(ipCmd(t, "-j", "-n", p.peer, "link", "show", p.peerLink)), &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -j link show: %v %v", links, err)
	}
	mac, err := dev.ParseMAC(links[0].Address)
	if err != nil {
		t.Fatal(err)
	}
	return mac
}

// resolvePeer makes the kernel in "here" resolve the peer's address by
// sending it one UDP datagram, and waits until the neighbour entry has a
// link-layer address.
func (p *netnsPair) resolvePeer(t *testing.T, addr string) {
	t.Helper()
	ipCmd(t, "netns", "exec", p.here, "bash", "-c", "echo x >/dev/udp/"+addr+"/9")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(ipCmd(t, "-n", p.here, "neigh", "show", addr), "lladdr") {
		if time.Now().After(deadline) {
			t.Fatalf("no neighbour entry for %s: %s", addr, ipCmd(t, "-n", p.here, "neigh", "show"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestNeighboursInNetns(t *testing.T) {
	p := newNetnsPair(t)
	want := p.peerMAC(t)
	clk := &clock{now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	n := NewNeighbours(NeighbourOptions{NetNS: p.hereFD, MaxAge: 10 * time.Second, MissGap: time.Second, Now: clk.Now})
	if err := n.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	peer4, peer6 := netip.MustParseAddr(peerV4), netip.MustParseAddr(peerV6)
	if mac, ok := n.MAC(peer4, clk.Now()); ok {
		t.Fatalf("MAC(%s) before any traffic = %v, want none", peer4, mac)
	}

	p.resolvePeer(t, peerV4)
	// The kernel has the entry now, but the miss above read the table
	// less than MissGap ago: no new read yet.
	if mac, ok := n.MAC(peer4, clk.Now()); ok {
		t.Fatalf("MAC(%s) within the miss gap = %v, want the cached miss", peer4, mac)
	}
	clk.add(time.Second)
	for _, addr := range []netip.Addr{peer4, netip.MustParseAddr("::ffff:" + peerV4)} {
		if mac, ok := n.MAC(addr, clk.Now()); !ok || mac != want {
			t.Fatalf("MAC(%s) = %v %v, want the peer's %v", addr, mac, ok, want)
		}
	}

	p.resolvePeer(t, peerV6)
	clk.add(time.Second)
	if mac, ok := n.MAC(peer6, clk.Now()); !ok || mac != want {
		t.Fatalf("MAC(%s) = %v %v, want the peer's %v", peer6, mac, ok, want)
	}

	// Addresses the kernel has no entry for get no MAC: one on the link
	// that never spoke, and one routed from elsewhere.
	for _, addr := range []string{"10.213.0.99", "192.0.2.1", "2001:db8::1"} {
		clk.add(time.Second)
		if mac, ok := n.MAC(netip.MustParseAddr(addr), clk.Now()); ok {
			t.Errorf("MAC(%s) = %v, want none", addr, mac)
		}
	}

	// A deleted entry stays cached until MaxAge has passed.
	ipCmd(t, "-n", p.here, "neigh", "flush", "dev", p.hereLink)
	if _, ok := n.MAC(peer4, clk.Now()); !ok {
		t.Fatalf("MAC(%s) lost before MaxAge", peer4)
	}
	clk.add(11 * time.Second)
	if mac, ok := n.MAC(peer4, clk.Now()); ok {
		t.Fatalf("MAC(%s) after a flush and MaxAge = %v, want none", peer4, mac)
	}
}

func TestDevicesInNetns(t *testing.T) {
	p := newNetnsPair(t)
	want := p.peerMAC(t)
	leases := write(t, "dnsmasq.leases", fmt.Sprintf("%d %s %s Peer-Laptop *\n", time.Now().Add(time.Hour).Unix(), want, peerV4))
	loaded, err := Load(Config{LeasesFiles: []string{leases}})
	if err != nil {
		t.Fatal(err)
	}
	names := new(atomic.Pointer[Names])
	names.Store(loaded)
	p.resolvePeer(t, peerV4)
	d := NewDevices(NewNeighbours(NeighbourOptions{NetNS: p.hereFD}), names)
	for _, tc := range []struct {
		addr string
		want dev.Device
	}{
		{peerV4, dev.Device{MAC: want, Host: "peer-laptop"}},
		{"::ffff:" + peerV4, dev.Device{MAC: want, Host: "peer-laptop"}},
		{hereV4, dev.Device{}},
		{"192.0.2.1", dev.Device{}},
	} {
		if got := d.Device(netip.MustParseAddr(tc.addr), time.Now()); got != tc.want {
			t.Errorf("Device(%s) = %+v, want %+v", tc.addr, got, tc.want)
		}
	}
	if got := NewDevices(nil, nil).Device(netip.MustParseAddr(peerV4), time.Now()); !got.IsZero() {
		t.Errorf("Device with no sources = %+v, want none", got)
	}
}
