package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dnsward/dnsward/internal/netnstest"
	"github.com/dnsward/dnsward/querylog"
	"github.com/dnsward/dnsward/testserver"
	"github.com/miekg/dns"
)

// flowsConfig is dnsward's on the router: every flow source on, DNS on a
// wildcard address (so DNS to the router's own addresses must be left out
// by interface address), a short suppression window for case 5.
const flowsConfig = `listen: ["0.0.0.0:53"]
upstreams: ["udp://10.216.2.2:53"]
state_dir: %[1]q
local:
  hosts_files: []
querylog:
  file: %[2]q
metrics:
  listen: 127.0.0.1:9153
flows:
  clients: [10.216.1.0/24]
  window: 4s
  conntrack:
    enabled: true
  nflog:
    group: 1
  syslog:
    udp: 127.0.0.1:5514
    senders: [127.0.0.0/8]
`

// TestFlowsNetns runs the dnsward binary on a router in network
// namespaces: clients 10.216.1.2 and .3 on lan0, the test server (as the
// upstream and at the addresses its zone answers) behind wan0, the
// README's ruleset (packaging/examples/egress.nft) with the addresses
// dnsward would add to @allow4. The flow records are read from dnsward's
// query log.
func TestFlowsNetns(t *testing.T) {
	l := netnstest.New(t, "dwe2e", []string{"rt", "cl", "sv"}, "nft")
	l.Link("rt", "cl", "lan0", "c0", "10.216.1.1/24", "10.216.1.2/24")
	l.IP("cl", "addr add 10.216.1.3/24 dev c0")
	l.Link("rt", "sv", "wan0", "s0", "10.216.2.1/24", "10.216.2.2/24")
	// The test server's zone: example.test 192.0.2.1, two.example.test
	// .1 and .2, mail.example.test .25, cloaked.example.test through
	// tracker.ads.test .66, edge.cdn.test .100.
	for _, a := range []string{"1", "2", "25", "66", "100"} {
		l.IP("sv", "addr add 192.0.2."+a+"/32 dev s0")
	}
	l.IP("rt", "route add 192.0.2.0/24 via 10.216.2.2")
	l.Exec("rt", "", "sysctl", "-qw", "net.ipv4.ip_forward=1")
	l.Exec("rt", "", "nft", "-f", "../../packaging/examples/egress.nft")
	l.Exec("rt", "", "nft", "add element inet egress allow4 { 192.0.2.1 timeout 1h, 192.0.2.2 timeout 1h, 192.0.2.25 timeout 1h }")

	var ts *testserver.Server
	var web net.Listener
	if err := l.In("sv", func() (err error) {
		if ts, err = testserver.Start(testserver.Options{PlainAddr: "10.216.2.2:53", CryptAddr: "10.216.2.2:853"}); err != nil {
			return err
		}
		web, err = net.Listen("tcp", "0.0.0.0:8080")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ts.Close() })
	served := make(chan struct{})
	t.Cleanup(func() { web.Close(); <-served })
	go func() {
		defer close(served)
		for {
			c, err := web.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	dir := t.TempDir()
	conf := filepath.Join(dir, "dnsward.yaml")
	if err := os.WriteFile(conf, fmt.Appendf(nil, flowsConfig, dir, filepath.Join(dir, "queries.log")), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := binary(t)
	cmd := exec.Command("ip", "netns", "exec", l.Name("rt"), bin, "serve", "--config", conf)
	lines := start(t, cmd)
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, lines, "msg=serving")
	qlog := filepath.Join(dir, "queries.log")

	resolve := func(t *testing.T, client, name, want string) {
		t.Helper()
		err := l.In("cl", func() error {
			c := &dns.Client{Timeout: 5 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(client)}}}
			r, _, err := c.Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), "10.216.1.1:53")
			if err != nil {
				return err
			}
			if len(r.Answer) == 0 || r.Answer[len(r.Answer)-1].(*dns.A).A.String() != want {
				return fmt.Errorf("%s: %v, want %s", name, r.Answer, want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// The answer index is fed just before the query is logged.
		poll(t, name+" logged", func() bool {
			b, _ := os.ReadFile(qlog)
			return bytes.Contains(b, []byte(strings.TrimSuffix(name, ".")))
		})
	}

	t.Run("1 resolved and connected, same_client", func(t *testing.T) {
		resolve(t, "10.216.1.2", "example.test.", "192.0.2.1")
		local, err := l.Connect("cl", "192.0.2.1:8080")
		if err != nil {
			t.Fatal(err)
		}
		r := waitRecord(t, qlog, "192.0.2.1", 0)
		if r.Verdict != "new" || r.Client != local.Addr() || r.ClientPort != local.Port() || r.Proto != "tcp" ||
			r.Attribution != "same_client" || names(r) != "example.test" {
			t.Errorf("record %+v", r)
		}
	})
	t.Run("2 nobody resolved, no_lookup", func(t *testing.T) {
		if _, err := l.Connect("cl", "192.0.2.2:8080"); err != nil {
			t.Fatal(err)
		}
		if r := waitRecord(t, qlog, "192.0.2.2", 0); r.Verdict != "new" || r.Attribution != "no_lookup" || r.Names != nil {
			t.Errorf("record %+v", r)
		}
	})
	t.Run("3 only another client resolved, other_client", func(t *testing.T) {
		resolve(t, "10.216.1.3", "mail.example.test.", "192.0.2.25")
		if _, err := l.Connect("cl", "192.0.2.25:8080"); err != nil {
			t.Fatal(err)
		}
		r := waitRecord(t, qlog, "192.0.2.25", 0)
		if r.Client != netip.MustParseAddr("10.216.1.2") || r.Attribution != "other_client" || names(r) != "mail.example.test" ||
			r.Names[0].Client != netip.MustParseAddr("10.216.1.3") {
			t.Errorf("record %+v", r)
		}
	})
	var dropPort uint16
	t.Run("4 dropped, nflog", func(t *testing.T) {
		resolve(t, "10.216.1.2", "cloaked.example.test.", "192.0.2.66")
		var err error
		if dropPort, err = l.SYN("cl", netip.MustParseAddrPort("192.0.2.66:8080")); err != nil {
			t.Fatal(err)
		}
		r := waitRecord(t, qlog, "192.0.2.66", 0)
		if r.Verdict != "dropped" || r.Prefix != "dnsward-drop" || r.ClientPort != dropPort || r.Attribution != "same_client" ||
			names(r) != "cloaked.example.test" || !slices.Equal(r.Names[0].Chain, []string{"tracker.ads.test"}) {
			t.Errorf("record %+v", r)
		}
	})
	t.Run("4b the same drop over syslog from the router", func(t *testing.T) {
		netnstest.Require(t, "logger")
		if dropPort == 0 {
			t.Skip("skipped: case 4 found no drop")
		}
		// The kernel writes only the first namespace's packet log to its
		// ring buffer, so the router's line for case 4's drop is written
		// here, as `log prefix "dnsward-drop "` has the kernel write it.
		line := fmt.Sprintf("[ 8123.456789] dnsward-drop IN=lan0 OUT=wan0 MAC=02:00:00:00:00:01:02:00:00:00:00:02:08:00 SRC=10.216.1.2 DST=192.0.2.66 LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=4711 DF PROTO=TCP SPT=%d DPT=8080 WINDOW=64240 RES=0x00 SYN URGP=0", dropPort)
		l.Exec("rt", "", "logger", "--server", "127.0.0.1", "--port", "5514", "--udp", "--rfc3164", "-t", "kernel", "--", line)
		// Within case 4's window, the line is folded into it: the window
		// ends with a summary record of it.
		r := waitRecord(t, qlog, "192.0.2.66", 1)
		if r.Verdict != "dropped" || r.Prefix != "dnsward-drop" || r.ClientPort != dropPort || r.Attribution != "same_client" ||
			names(r) != "cloaked.example.test" || r.Repeats != 1 {
			t.Errorf("record %+v", r)
		}
		m := scrape(t, l)
		if !strings.Contains(m, `dnsward_flow_source_flows_total{source="syslog"} 1`) {
			t.Errorf("syslog flows not counted:\n%s", grepLines(m, "dnsward_flow"))
		}
	})
	t.Run("5 retrying every 100 ms for 3 s, one record with a repeat count", func(t *testing.T) {
		resolve(t, "10.216.1.2", "edge.cdn.test.", "192.0.2.100")
		const tries = 30
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := range tries {
			if i > 0 {
				<-tick.C
			}
			if _, err := l.SYN("cl", netip.MustParseAddrPort("192.0.2.100:8080")); err != nil {
				t.Fatal(err)
			}
		}
		if r := waitRecord(t, qlog, "192.0.2.100", 0); r.Repeats != 0 || r.Verdict != "dropped" || names(r) != "edge.cdn.test" {
			t.Errorf("first record %+v", r)
		}
		// The summary comes when the 4 s window ends.
		if r := waitRecord(t, qlog, "192.0.2.100", 1); r.Repeats != tries-1 || r.Attribution != "same_client" || names(r) != "edge.cdn.test" {
			t.Errorf("summary %+v", r)
		}
		if n := len(records(t, qlog, "192.0.2.100")); n != 2 {
			t.Errorf("%d records for the retries, want 2", n)
		}
	})

	m := scrape(t, l)
	t.Logf("metrics:\n%s", grepLines(m, "dnsward_flow"))
	for _, want := range []string{`dnsward_flows_total{attribution="no_lookup",verdict="new"} 1`,
		`dnsward_flows_total{attribution="other_client",verdict="new"} 1`, `dnsward_flows_folded_total 30`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, lines, "msg=stopped")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	for _, r := range records(t, qlog, "") {
		if r.DestPort == 53 {
			t.Errorf("DNS to dnsward became a flow record: %+v", r)
		}
	}
	out, err := exec.Command(bin, "flows", "--from", qlog).CombinedOutput()
	if err != nil {
		t.Fatalf("dnsward flows: %v: %s", err, out)
	}
	t.Logf("dnsward flows:\n%s", out)
	// 30 retries, the drop and its syslog line, three connections.
	for _, want := range []string{"CLIENT 10.216.1.2: 35 flows, 1 unexplained, 5 destinations\n",
		"\nno_lookup     192.0.2.2:8080    tcp    1      new=1  ", "\nsame_client   192.0.2.100:8080  tcp    30     dropped=30  "} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("dnsward flows: no %q", want)
		}
	}
}

// records are the flow records to dest (all when empty) in the log so far.
func records(t *testing.T, file, dest string) []querylog.FlowRecord {
	t.Helper()
	var out []querylog.FlowRecord
	err := querylog.ScanFlows(t.Context(), []string{file}, func(r *querylog.FlowRecord) error {
		if dest == "" || r.Dest.String() == dest {
			out = append(out, *r)
		}
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

// waitRecord waits for the i-th flow record to dest and returns it.
func waitRecord(t *testing.T, file, dest string, i int) querylog.FlowRecord {
	t.Helper()
	var rs []querylog.FlowRecord
	poll(t, fmt.Sprintf("flow record %d to %s", i, dest), func() bool {
		rs = records(t, file, dest)
		return len(rs) > i
	})
	r := rs[i]
	t.Logf("record: %s %s:%d > %s:%d %s prefix=%q %s %s repeats=%d", r.Verdict, r.Client, r.ClientPort, r.Dest, r.DestPort,
		r.Proto, r.Prefix, r.Attribution, names(r), r.Repeats)
	return r
}

// names are a record's names, comma-separated.
func names(r querylog.FlowRecord) string {
	var ns []string
	for _, n := range r.Names {
		ns = append(ns, n.Name)
	}
	return strings.Join(ns, ",")
}

// scrape reads dnsward's metrics in the router's namespace.
func scrape(t *testing.T, l *netnstest.Lab) string {
	t.Helper()
	var body []byte
	err := l.In("rt", func() error {
		// Dialled here, not by an http.Transport, whose dialling
		// goroutine would run outside the namespace.
		c, err := net.DialTimeout("tcp", "127.0.0.1:9153", 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		req, _ := http.NewRequest("GET", "http://127.0.0.1:9153/metrics", nil)
		req.Close = true
		if err := req.Write(c); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err = io.ReadAll(resp.Body)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// grepLines are the lines of s that start with prefix.
func grepLines(s, prefix string) string {
	var out []string
	for l := range strings.Lines(s) {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

// TestREADMEEgressExample keeps the README's copy-pasteable ruleset the
// one TestFlowsNetns loads.
func TestREADMEEgressExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	nft, err := os.ReadFile("../../packaging/examples/egress.nft")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, append(append([]byte("```nft\n"), nft...), "```\n"...)) {
		t.Error("README.md's nft block is not packaging/examples/egress.nft")
	}
}
