package engine

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/dnsward/dnsward/config"
	"golang.org/x/sys/unix"
)

// TestNewFeederErrors opens the feeder as the engine does, on a thread in
// a namespace of the test's with one set, with and without CAP_NET_ADMIN
// (capabilities are per thread): an error names the set, and a missing
// capability says how to grant it.
func TestNewFeederErrors(t *testing.T) {
	if _, err := exec.LookPath("nft"); os.Geteuid() != 0 || err != nil {
		t.Skip("skipped: needs root and network namespaces")
	}
	ns := fmt.Sprintf("dwengnft%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("skipped: needs root and network namespaces (ip netns add: %v: %s)", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	nft := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	nft.Stdin = strings.NewReader("table inet egress {\n\tset allow4 {\n\t\ttype ipv4_addr\n\t\tflags timeout\n\t}\n}\n")
	if out, err := nft.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
	fd, err := os.Open("/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	for _, tt := range []struct {
		set      string
		dropCap  bool
		want     string // in the error; "" for none
		covers   string // a name the feeder then covers
		notCover string
	}{
		{set: "inet egress allow4", covers: "www.Example.com.", notCover: "example.org."},
		{set: "inet egress nosuch", want: "nftset inet egress nosuch: no such set"},
		{set: "inet egress allow4", dropCap: true, want: "nftset inet egress allow4: needs CAP_NET_ADMIN"},
		{set: "inet egress allow4", dropCap: true, want: "add it with a drop-in: see README, Egress by name"},
	} {
		cfg := &config.Config{NftSet: config.NftSet{Rules: []config.NftSetRule{{Domains: []string{"example.com"}, Sets: []string{tt.set}}}}}
		errc := make(chan error, 1)
		// The thread is never unlocked: it ends with its goroutine.
		go func() {
			runtime.LockOSThread()
			if err := unix.Setns(int(fd.Fd()), unix.CLONE_NEWNET); err != nil {
				errc <- err
				return
			}
			if tt.dropCap {
				hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
				var data [2]unix.CapUserData
				if err := unix.Capget(&hdr, &data[0]); err != nil {
					errc <- err
					return
				}
				data[0].Effective &^= 1 << unix.CAP_NET_ADMIN
				if err := unix.Capset(&hdr, &data[0]); err != nil {
					errc <- err
					return
				}
			}
			f, err := newFeeder(cfg, nil)
			if err == nil {
				sf := setFeeder{f}
				if !sf.Covers(tt.covers) || sf.Covers(tt.notCover) {
					err = fmt.Errorf("covers %s %v, %s %v", tt.covers, sf.Covers(tt.covers), tt.notCover, sf.Covers(tt.notCover))
				}
				f.Close()
			}
			errc <- err
		}()
		err := <-errc
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.set, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s (CAP_NET_ADMIN dropped: %v): error %v, want %q", tt.set, tt.dropCap, err, tt.want)
		}
	}
}
