package upstream_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/dnsward/dnsward/testserver"
	"github.com/dnsward/dnsward/upstream"
	"github.com/miekg/dns"
)

// openFDs counts the process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("skipped: counting open files: %v", err)
	}
	return len(fds)
}

// checkCloseReleases asks each upstream a few queries at once, so that
// those keeping sockets keep some, then closes them in a group: every
// socket they opened must be closed, and later exchanges must fail with
// ErrClosed, asking no one.
func checkCloseReleases(t *testing.T, ups ...upstream.Upstream) {
	t.Helper()
	before := openFDs(t)
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
	kept := openFDs(t)
	g := upstream.NewGroup(ups, time.Second)
	for range 2 { // a second Close does no harm
		if err := g.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if after := openFDs(t); after != before {
		t.Errorf("%d files open before the exchanges, %d after them, %d after Close", before, kept, after)
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
	checkCloseReleases(t, ups...)
}
