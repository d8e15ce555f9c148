package flows

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dnsward/dnsward/internal/netnstest"
	"github.com/dnsward/dnsward/internal/testwait"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
)

func TestLimitedLog(t *testing.T) {
	var buf bytes.Buffer
	clock := newFakeClock(t0)
	l := limitedLog{logger: slog.New(slog.NewTextHandler(&buf, nil)), now: clock.Now}
	for range 5 {
		l.log("overran", fmt.Errorf("ENOBUFS"))
		clock.Advance(time.Second)
	}
	if n := strings.Count(buf.String(), "overran"); n != 1 {
		t.Fatalf("%d lines in the first 10 s, want 1:\n%s", n, buf.String())
	}
	clock.Advance(5 * time.Second)
	l.log("overran", fmt.Errorf("ENOBUFS"))
	if !strings.Contains(buf.String(), "since_last_logged=4") {
		t.Fatalf("second line does not count the 4 left out:\n%s", buf.String())
	}
}

// TestConntrackOverrun fills a small socket buffer with NEW events before
// reading: Run counts the overrun and goes on reading the events after it.
func TestConntrackOverrun(t *testing.T) {
	ns := netnstest.New(t, "dwflows", []string{"ov"}).FD("ov")

	var kept atomic.Int64
	sentinel := make(chan Flow, 1)
	ct, err := NewConntrack(ConntrackOptions{NetNS: ns, ReadBuffer: 4096, SourceOptions: SourceOptions{
		Filter: Filter{Clients: pfx("10.215.9.0/24")},
		Emit: func(f Flow) {
			kept.Add(1)
			if f.Dest.Port() == 9999 {
				select {
				case sentinel <- f:
				default: // one is enough
				}
			}
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	maker, err := conntrack.Dial(&netlink.Config{NetNS: ns})
	if err != nil {
		ct.Close()
		t.Fatal(err)
	}
	defer maker.Close()
	create := func(sport, dport uint16) {
		t.Helper()
		f := conntrack.NewFlow(17, 0, netip.MustParseAddr("10.215.9.2"), netip.MustParseAddr("10.215.8.1"), sport, dport, 60, 0)
		if err := maker.Create(f); err != nil {
			t.Fatalf("create flow: %v", err)
		}
	}
	const burst = 2000
	for i := range burst {
		create(uint16(10000+i), 80)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := ct.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	defer func() { cancel(); wg.Wait() }()
	testwait.Until(t, "overrun counted", func() bool { return ct.Stats().Overruns > 0 })
	// A sentinel flow is made again until one is read: on a loaded machine
	// the reader may still be behind, its buffer full, and the kernel
	// drops that event too.
	sentinels := 0
	deadline := time.After(10 * time.Second)
	again := time.NewTicker(100 * time.Millisecond)
	defer again.Stop()
wait:
	for {
		create(uint16(20000+sentinels), 9999)
		sentinels++
		select {
		case f := <-sentinel:
			t.Logf("after %+v and %d sentinels: sentinel %v > %v read", ct.Stats(), sentinels, f.Client, f.Dest)
			break wait
		case <-again.C:
		case <-deadline:
			t.Fatalf("no event after the overrun: %+v", ct.Stats())
		}
	}
	if st := ct.Stats(); st.Events >= uint64(burst+sentinels) || kept.Load() >= int64(burst+sentinels) {
		t.Fatalf("no event was lost, so nothing overran: %+v", st)
	}
}

// TestNetlinkNeedsCapability opens both netlink sources without
// CAP_NET_ADMIN, in a child process whose bounding set lacks it: each
// error names what it needs.
func TestNetlinkNeedsCapability(t *testing.T) {
	if os.Getenv("DWFLOWS_NOCAP") == "1" {
		_, err1 := NewConntrack(ConntrackOptions{})
		_, err2 := NewNflog(NflogOptions{Group: 4321})
		fmt.Printf("conntrack error: %v\nnflog error: %v\n", err1, err2)
		return
	}
	netnstest.Require(t, "setpriv")
	cmd := exec.Command("setpriv", "--bounding-set", "-net_admin", "--inh-caps", "-net_admin", "--",
		os.Args[0], "-test.run=^TestNetlinkNeedsCapability$", "-test.v")
	cmd.Env = append(os.Environ(), "DWFLOWS_NOCAP=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	for _, want := range []string{
		"conntrack error: conntrack events: join the NEW event group: ",
		"nflog error: nflog: bind group: ",
	} {
		i := strings.Index(string(out), want)
		if i < 0 {
			t.Fatalf("child output lacks %q:\n%s", want, out)
		}
		line, _, _ := strings.Cut(string(out[i:]), "\n")
		if !strings.Contains(line, "needs CAP_NET_ADMIN") {
			t.Errorf("%q does not name the capability", line)
		}
		t.Log(line)
	}
}
