package upstream_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dnsward/dnsward/testserver"
	"github.com/dnsward/dnsward/upstream"
	"github.com/miekg/dns"
)

// socketsTo counts this process's open sockets connected to any of addrs
// (IPv4 host:port): sockets of other tests, still closing, do not count.
func socketsTo(t *testing.T, addrs ...string) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("skipped: listing open files: %v", err)
	}
	ours := map[string]bool{}
	for _, fd := range fds {
		if link, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil {
			if inode, ok := strings.CutPrefix(link, "socket:["); ok {
				ours[strings.TrimSuffix(inode, "]")] = true
			}
		}
	}
	// /proc/net/* write an IPv4 address as the hex of its 32 bits in
	// host order, and the port in hex.
	remote := map[string]bool{}
	for _, a := range addrs {
		ap := netip.MustParseAddrPort(a)
		ip := ap.Addr().As4()
		remote[fmt.Sprintf("%08X:%04X", binary.NativeEndian.Uint32(ip[:]), ap.Port())] = true
	}
	n := 0
	for _, table := range []string{"/proc/net/tcp", "/proc/net/udp"} {
		data, err := os.ReadFile(table)
		if err != nil {
			t.Skipf("skipped: %v", err)
		}
		for line := range strings.Lines(string(data)) {
			// sl local rem st queues tr retrnsmt uid timeout inode
			f := strings.Fields(line)
			if len(f) > 9 && remote[f[2]] && ours[f[9]] {
				n++
			}
		}
	}
	return n
}

// checkCloseReleases asks each upstream a few queries at once, so that
// those keeping sockets keep some, then closes them in a group: every
// socket they opened must be closed, and later exchanges must fail with
// ErrClosed, asking no one.
func checkCloseReleases(t *testing.T, servers []string, ups ...upstream.Upstream) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 8*len(ups))
	for _, u := range ups {
		for range 8 {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if _, err := u.Exchange(ctx, query("example.test.", dns.TypeA)); err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	kept := socketsTo(t, servers...)
	if kept == 0 {
		t.Errorf("no socket kept open after the exchanges: the count sees nothing")
	}
	g := upstream.NewGroup(ups, time.Second)
	for range 2 { // a second Close does no harm
		if err := g.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if after := socketsTo(t, servers...); after != 0 {
		t.Errorf("%d sockets to the servers open after the exchanges, %d after Close", kept, after)
	}
	for _, u := range ups {
		if _, err := u.Exchange(context.Background(), query("example.test.", dns.TypeA)); !errors.Is(err, upstream.ErrClosed) {
			t.Errorf("%s after Close: error %v, want ErrClosed", u, err)
		}
	}
	if _, _, err := g.Exchange(context.Background(), query("example.test.", dns.TypeA)); !errors.Is(err, upstream.ErrClosed) {
		t.Errorf("group after Close: error %v, want ErrClosed", err)
	}
}

func TestCloseReleasesSockets(t *testing.T) {
	ts := testserver.ForTest(t)
	var ups []upstream.Upstream
	for _, raw := range []string{ts.Stamp, ts.PlainUDP()} {
		u, err := upstream.Parse(raw, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, u)
	}
	checkCloseReleases(t, []string{ts.CryptAddr, ts.PlainAddr}, ups...)
}
