package engine

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dnsward/dnsward/internal/testwait"
	"github.com/dnsward/dnsward/querylog"
)

// TestFlowsFromSyslog runs the syslog flow source in the engine (it needs
// no root): a client resolves a name through the engine, then the
// firewall's drop lines arrive; the records are in the query log, joined
// to the real answer index, and the repeat folded into the window is
// flushed as a summary when the engine stops.
func TestFlowsFromSyslog(t *testing.T) {
	r := startWith(t, "flows:\n  clients: [127.0.0.0/8]\n  syslog:\n    udp: 127.0.0.1:0\n    senders: [127.0.0.0/8]\n")
	if got := r.answer(t, "www.example.test."); got != "192.0.2.1" {
		t.Fatalf("www.example.test.: %s", got)
	}
	// The answer index is fed after the response is sent.
	testwait.Until(t, "the answer indexed", func() bool {
		return len(r.e.Answers().Who(netip.MustParseAddr("192.0.2.1"), time.Now())) > 0
	})
	dns, _, err := net.SplitHostPort(r.addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("udp", r.e.flows.syslog.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	lines := []string{
		"SRC=127.0.0.1 DST=192.0.2.1 PROTO=TCP SPT=40001 DPT=443",
		"SRC=127.0.0.1 DST=192.0.2.1 PROTO=TCP SPT=40002 DPT=443", // a retry: folded
		"SRC=127.0.0.1 DST=198.51.100.7 PROTO=TCP SPT=40003 DPT=25",
		"SRC=127.0.0.1 DST=" + dns + " PROTO=UDP SPT=40004 DPT=53", // a lookup, not a flow
	}
	for _, l := range lines {
		if _, err := fmt.Fprintf(c, "<4>Dec  1 12:00:01 gw kernel: dnsward-drop IN=eth1 OUT=eth0 %s", l); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Write([]byte("no syslog header")); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, "the lines read", func() bool {
		s := r.e.flows.flowStats()
		return s.Sources[0].Kept == 3 && s.Sources[0].Malformed == 1 && s.Folded == 1
	})
	r.stop()
	if err := <-r.errc; err != nil {
		t.Fatal(err)
	}
	r.stop = nil

	var got []string
	err = querylog.ScanFlows(t.Context(), []string{filepath.Join(r.dir, "queries.log")}, func(f *querylog.FlowRecord) error {
		var names []string
		for _, n := range f.Names {
			names = append(names, n.Name+"<"+fmt.Sprint(n.Chain)+">")
		}
		got = append(got, fmt.Sprintf("%s %s:%d > %s:%d %s %s %s %v repeats=%d", f.Verdict, f.Client, f.ClientPort, f.Dest, f.DestPort,
			f.Proto, f.Prefix, f.Attribution, names, f.Repeats))
		return nil
	})
	if err != nil && !errors.Is(err, querylog.ErrMalformed) {
		t.Fatal(err)
	}
	want := []string{
		"dropped 127.0.0.1:40001 > 192.0.2.1:443 tcp dnsward-drop same_client [www.example.test<[web.example.test example.test]>] repeats=0",
		"dropped 127.0.0.1:40003 > 198.51.100.7:25 tcp dnsward-drop no_lookup [] repeats=0",
		"dropped 127.0.0.1:40002 > 192.0.2.1:443 tcp dnsward-drop same_client [www.example.test<[web.example.test example.test]>] repeats=1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("flow records:\n%s\nwant\n%s", fmt.Sprint(got), fmt.Sprint(want))
	}
}

func TestOwnAddrs(t *testing.T) {
	host := func() ([]net.Addr, error) {
		return []net.Addr{&net.IPNet{IP: net.ParseIP("127.0.0.1"), Mask: net.CIDRMask(8, 32)},
			&net.IPNet{IP: net.ParseIP("192.168.1.1"), Mask: net.CIDRMask(24, 32)},
			&net.IPNet{IP: net.ParseIP("fe80::1"), Mask: net.CIDRMask(64, 128)}}, nil
	}
	all := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("192.168.1.1"), netip.MustParseAddr("fe80::1")}
	for _, tt := range []struct {
		listen []string
		want   []netip.Addr
	}{
		{[]string{"127.0.0.1:53", "192.168.1.1:53"}, nil},
		{[]string{"0.0.0.0:53"}, all},
		{[]string{"127.0.0.1:53", "[::]:53"}, all},
		{[]string{":53"}, all},
	} {
		got, err := ownAddrs(tt.listen, host)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ownAddrs(%v) = %v, %v; want %v", tt.listen, got, err, tt.want)
		}
	}
	_, err := ownAddrs([]string{"0.0.0.0:53"}, func() ([]net.Addr, error) { return nil, errors.New("no netlink") })
	if err == nil {
		t.Error("no error when the host's addresses cannot be read")
	}
}

// TestFlowSourceErrorAtNew: a flow source that cannot open is New's
// error, saying which source and address.
func TestFlowSourceErrorAtNew(t *testing.T) {
	busy, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg, err := loadYAML(t, fmt.Sprintf("listen: [\"127.0.0.1:0\"]\nupstreams: [\"udp://127.0.0.1:5300\"]\nflows:\n  syslog:\n    udp: %s\n    senders: [127.0.0.0/8]\n", busy.LocalAddr()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg, Options{}); err == nil || !strings.Contains(err.Error(), "syslog flows: listen on UDP "+busy.LocalAddr().String()) {
		t.Fatalf("New with a busy syslog port: %v", err)
	}
}
