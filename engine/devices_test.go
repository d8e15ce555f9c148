package engine

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dnsward/dnsward/config"
	"github.com/dnsward/dnsward/lan"
)

// TestDevicesInRecords: a client's lease host name is in its query log
// records and its answer index entries, from the names a reload loaded.
func TestDevicesInRecords(t *testing.T) {
	r := start(t)
	leases := filepath.Join(r.dir, "dnsmasq.leases")
	if err := os.WriteFile(leases, []byte("4102444800 02:00:00:00:02:01 127.0.0.1 laptop *\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Indented: it continues the local section write ends with.
	r.write(t, "router.lan. 300 IN A 192.168.1.1", fmt.Sprintf("  leases_files: [%q]\n", leases))
	r.e.Reload(t.Context())
	if got := r.answer(t, "example.test."); got != "192.0.2.1" {
		t.Fatalf("example.test.: %s", got)
	}
	got := r.e.Answers().Lookup(netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("192.0.2.1"), time.Now())
	if len(got) != 1 || got[0].Device.Host != "laptop" {
		t.Errorf("index entries for 127.0.0.1: %+v, want one of device laptop", got)
	}
	logFile := filepath.Join(r.dir, "queries.log")
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(logFile)
		if strings.Contains(string(b), `"client_host":"laptop"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no record with client_host laptop in %s:\n%s", logFile, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkDevice is what every answered query pays to name its device:
// a client the neighbour table lacks (loopback, as in make bench), whose
// misses read the table at most once a second.
func BenchmarkDevice(b *testing.B) {
	names, err := lan.Load(lan.Config{})
	if err != nil {
		b.Fatal(err)
	}
	var ptr atomic.Pointer[lan.Names]
	ptr.Store(names)
	d := newDevices(&config.Config{Devices: config.Devices{Neighbours: true}}, &ptr)
	client := netip.MustParseAddr("127.0.0.1")
	b.ReportAllocs()
	now := time.Now()
	for b.Loop() {
		d.Device(client, now)
	}
}
