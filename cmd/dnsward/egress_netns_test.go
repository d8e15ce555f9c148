package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dnsward/dnsward/internal/netnstest"
	"github.com/dnsward/dnsward/testserver"
	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// egressLab is a LAN in network namespaces: a client (10.216.1.2) behind
// a router (10.216.1.1 on the LAN, 10.216.2.1 towards the server) that
// runs dnsward and the packaged egress ruleset, and a server namespace
// (10.216.2.2) holding the addresses the test zone answers with.
type egressLab struct {
	client, router, server string // namespace names
	fds                    map[string]int
}

const egressSkip = "skipped: needs root and network namespaces"

// newEgressLab builds the namespaces, named after the pid so that parallel
// runs do not meet; t's cleanup removes them.
func newEgressLab(t *testing.T) *egressLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip(egressSkip)
	}
	for _, prog := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Skipf("%s (%v)", egressSkip, err)
		}
	}
	id := strconv.Itoa(os.Getpid())
	l := &egressLab{client: "dwegc" + id, router: "dwegr" + id, server: "dwegs" + id, fds: map[string]int{}}
	for i, ns := range []string{l.client, l.router, l.server} {
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			if i == 0 {
				t.Skipf("%s (ip netns add: %v: %s)", egressSkip, err, out)
			}
			t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
		}
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		l.fds[ns] = int(f.Fd())
		l.ip(t, ns, "link set lo up")
	}
	l.ip(t, l.client, "link add ec0 type veth peer name er0 netns "+l.router)
	l.ip(t, l.server, "link add es0 type veth peer name er1 netns "+l.router)
	for _, a := range []struct{ ns, link, addr string }{
		{l.client, "ec0", "10.216.1.2/24"}, {l.router, "er0", "10.216.1.1/24"},
		{l.router, "er1", "10.216.2.1/24"}, {l.server, "es0", "10.216.2.2/24"},
	} {
		l.ip(t, a.ns, "addr add "+a.addr+" dev "+a.link)
		l.ip(t, a.ns, "link set "+a.link+" up")
	}
	l.ip(t, l.client, "route add default via 10.216.1.1")
	l.ip(t, l.server, "route add default via 10.216.2.1")
	// The test zone's addresses, inside the lab only.
	for _, a := range []string{"192.0.2.3", "192.0.2.25"} {
		l.ip(t, l.server, "addr add "+a+"/32 dev lo")
	}
	l.ip(t, l.router, "route add 192.0.2.0/24 via 10.216.2.2")
	netnstest.Run(t, "", "ip", "netns", "exec", l.router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	return l
}

func (l *egressLab) ip(t *testing.T, ns, args string) {
	t.Helper()
	netnstest.Run(t, "", append([]string{"ip", "-n", ns}, strings.Fields(args)...)...)
}

// in runs fn on a thread moved into namespace ns: sockets it opens live
// there. The thread is never unlocked, so it ends with its goroutine
// instead of serving others from the wrong namespace.
func (l *egressLab) in(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(l.fds[ns], unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// resolve asks dnsward, from the client, for name's A records.
func (l *egressLab) resolve(name string) ([]string, error) {
	var addrs []string
	err := l.in(l.client, func() error {
		r, _, err := (&dns.Client{Timeout: 3 * time.Second}).Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), "10.216.1.1:53")
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		for _, rr := range r.Answer {
			if a, ok := rr.(*dns.A); ok {
				addrs = append(addrs, a.A.String())
			}
		}
		return nil
	})
	return addrs, err
}

// dial connects from the client to the server's port 8080 at addr.
func (l *egressLab) dial(addr string, timeout time.Duration) error {
	return l.in(l.client, func() error {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(addr, "8080"), timeout)
		if err == nil {
			c.Close()
		}
		return err
	})
}

// dropped is how long a connect waits before the test calls it dropped:
// the router's drop is silent, so only a wait tells it from a slow accept,
// and a namespace's accept answers in well under it.
const dropped = 300 * time.Millisecond

// TestEgressNftsetNetns runs the dnsward binary on a router namespace with
// the packaged egress ruleset and an nftset rule for short.example.test
// (TTL 2 s, 1 s of grace): a client reaches the answered address only
// after resolving the name, not after resolving a name outside the rule,
// and no longer once the element has timed out; its records carry its MAC.
func TestEgressNftsetNetns(t *testing.T) {
	l := newEgressLab(t)
	bin := binary(t)
	ruleset, err := os.ReadFile("../../packaging/examples/egress.nft")
	if err != nil {
		t.Fatal(err)
	}
	rules := strings.NewReplacer(`define LAN = "lan0"`, `define LAN = "er0"`, `define WAN = "wan0"`, `define WAN = "er1"`).Replace(string(ruleset))
	netnstest.Run(t, rules, "ip", "netns", "exec", l.router, "nft", "-f", "-")
	t.Log("router: packaging/examples/egress.nft loaded with LAN er0, WAN er1")

	// The upstream: the test zone on the router's loopback.
	var ts *testserver.Server
	if err := l.in(l.router, func() (err error) {
		ts, err = testserver.Start(testserver.Options{PlainAddr: "127.0.0.1:5300", CryptAddr: "127.0.0.1:0"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ts.Close() })
	// The server: accepts on every address of its namespace.
	var ln net.Listener
	if err := l.in(l.server, func() (err error) { ln, err = net.Listen("tcp", ":8080"); return err }); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	})

	dir := t.TempDir()
	conf := func(sets string) string {
		file := filepath.Join(dir, "dnsward.yaml")
		err := os.WriteFile(file, []byte(fmt.Sprintf(`listen: ["10.216.1.1:53"]
allow_clients: [10.216.1.0/24]
upstreams: ["udp://127.0.0.1:5300"]
metrics:
  listen: 127.0.0.1:9153
querylog:
  file: %q
local:
  hosts_files: []
answers:
  grace: 1s
nftset:
  rules:
    - domains: [short.example.test]
      sets: [%s]
`, filepath.Join(dir, "queries.log"), sets)), 0o600)
		if err != nil {
			t.Fatal(err)
		}
		return file
	}

	out, err := exec.Command("ip", "netns", "exec", l.router, bin, "serve", "--config", conf(`"inet egress allow4", "inet egress nosuch"`)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "nftset inet egress nosuch: no such set") {
		t.Fatalf("dnsward with a set that does not exist: %v\n%s", err, out)
	}
	t.Logf("a rule naming a missing set: dnsward does not start: %s", lastLine(out))

	srv := startEgressServer(t, l, bin, conf(`"inet egress allow4", "inet egress allow6"`))
	t.Log("router: dnsward serving on 10.216.1.1:53")

	if err := l.dial("192.0.2.3", dropped); err == nil {
		t.Fatal("connected to 192.0.2.3 before resolving its name: the forward chain lets everything through")
	}
	t.Log("client, before resolving short.example.test: connect to 192.0.2.3 dropped")

	if got, err := l.resolve("mail.example.test."); err != nil || strings.Join(got, " ") != "192.0.2.25" {
		t.Fatalf("mail.example.test.: %v, %v", got, err)
	}
	if err := l.dial("192.0.2.25", dropped); err == nil {
		t.Fatal("connected to 192.0.2.25 after resolving mail.example.test, which no rule covers")
	}
	t.Log("client resolved mail.example.test (no rule) to 192.0.2.25: connect dropped")

	if got, err := l.resolve("short.example.test."); err != nil || strings.Join(got, " ") != "192.0.2.3" {
		t.Fatalf("short.example.test.: %v, %v", got, err)
	}
	// At once: the add was made before the answer was sent.
	if err := l.dial("192.0.2.3", 5*time.Second); err != nil {
		t.Fatalf("connect to 192.0.2.3 right after resolving short.example.test: %v", err)
	}
	t.Logf("client resolved short.example.test to 192.0.2.3 and connected at once; the set holds: %s", l.setElements(t))

	start := time.Now()
	for strings.Contains(l.setElements(t), "192.0.2.3") {
		if time.Since(start) > 15*time.Second {
			t.Fatal("192.0.2.3 still in the set 15 s after the answer, whose TTL and grace are 3 s")
		}
		time.Sleep(50 * time.Millisecond) // poll interval, not a wait for time to pass
	}
	if err := l.dial("192.0.2.3", dropped); err == nil {
		t.Fatal("connected to 192.0.2.3 after its element timed out")
	}
	t.Logf("element timed out %v later: connect to 192.0.2.3 dropped again", time.Since(start).Round(100*time.Millisecond))

	mac := l.clientMAC(t)
	macLine := regexp.MustCompile(`"client":"10\.216\.1\.2".*"client_mac":"` + regexp.QuoteMeta(mac) + `"`)
	deadline := time.Now().Add(15 * time.Second)
	for !macLine.Match(srv.queryLog(t)) {
		if time.Now().After(deadline) {
			t.Fatalf("no record of 10.216.1.2 with client_mac %s:\n%s", mac, srv.queryLog(t))
		}
		// The table is read again at most once a second for an address
		// it lacks; another query is logged with what it holds then.
		if _, err := l.resolve("short.example.test."); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the query log names the client's device: client_mac %s", mac)

	m := l.scrape(t)
	added := regexp.MustCompile(`(?m)^dnsward_nftset_adds_total\{result="added"\} ([0-9]+)$`).FindStringSubmatch(m)
	if added == nil || added[1] == "0" || !strings.Contains(m, `dnsward_nftset_adds_total{result="failed"} 0`) {
		t.Errorf("metrics:\n%s", grepLines(m, "dnsward_nftset"))
	}
	t.Logf("metrics: %s", strings.Join(strings.Fields(grepLines(m, "dnsward_nftset_adds_total{")), " "))
}

// egressServer is the dnsward binary running in the router namespace.
type egressServer struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	log    string
}

// syncBuffer is a process's output, read while it writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startEgressServer runs dnsward serve with the configuration file in the
// router namespace until it says it serves; t's cleanup stops it.
func startEgressServer(t *testing.T, l *egressLab, bin, file string) *egressServer {
	t.Helper()
	s := &egressServer{stderr: new(syncBuffer), log: filepath.Join(filepath.Dir(file), "queries.log")}
	// ip netns exec execs dnsward, so the pid is dnsward's.
	s.cmd = exec.Command("ip", "netns", "exec", l.router, bin, "serve", "--config", file)
	s.cmd.Stdout, s.cmd.Stderr = io.Discard, s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- s.cmd.Wait() }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = s.cmd.Process.Kill()
			<-exited
			t.Errorf("dnsward did not stop on SIGTERM:\n%s", s.stderr)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(s.stderr.String(), "msg=serving") {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("dnsward exited: %v\n%s", err, s.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("dnsward not serving after 30 s:\n%s", s.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s
}

func (s *egressServer) queryLog(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(s.log)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return b
}

// setElements lists the router's allow4 set.
func (l *egressLab) setElements(t *testing.T) string {
	t.Helper()
	out := netnstest.Run(t, "", "ip", "netns", "exec", l.router, "nft", "list", "set", "inet", "egress", "allow4")
	if i := strings.Index(out, "elements = "); i >= 0 {
		return strings.TrimSpace(strings.SplitN(out[i:], "}", 2)[0] + "}")
	}
	return "none"
}

// clientMAC is the client's veth address, as ip reports it.
func (l *egressLab) clientMAC(t *testing.T) string {
	t.Helper()
	var links []struct {
		Address string `json:"address"`
	}
	out := netnstest.Run(t, "", "ip", "-j", "-n", l.client, "link", "show", "ec0")
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -j link show ec0: %v\n%s", err, out)
	}
	return links[0].Address
}

// scrape reads dnsward's /metrics from the router namespace, over a
// connection opened there (net/http would dial from another thread).
func (l *egressLab) scrape(t *testing.T) string {
	t.Helper()
	var body []byte
	err := l.in(l.router, func() error {
		c, err := net.DialTimeout("tcp", "127.0.0.1:9153", 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
			return err
		}
		body, err = io.ReadAll(c)
		return err
	})
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	return string(body)
}

// lastLine is the last non-empty line of out.
func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

// TestCheckConfigLooksUpNftsets: check-config, run where the sets live,
// names each set that is missing by its file and line; a config whose sets
// exist passes.
func TestCheckConfigLooksUpNftsets(t *testing.T) {
	l := netnstest.New(t, "dwchk", []string{"router"}, "nft")
	l.Exec("router", "table inet egress {\n\tset allow4 {\n\t\ttype ipv4_addr\n\t\tflags timeout\n\t}\n}\n", "nft", "-f", "-")
	dir := t.TempDir()
	for _, tc := range []struct {
		sets string
		code int
		want string
	}{
		{`["inet egress allow4"]`, 0, "configuration OK"},
		{`["inet egress allow4", "inet egress allow6"]`, 1, ":5: nftset.rules.0.sets.1: inet egress allow6: no such set"},
	} {
		file := filepath.Join(dir, "dnsward.yaml")
		cfg := "upstreams: [udp://127.0.0.1:5300]\nnftset:\n  rules:\n    - domains: [example.com]\n      sets: " + tc.sets + "\n"
		if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		code := -1
		if err := l.In("router", func() error {
			code = run(t.Context(), []string{"check-config", "--config", file}, &stdout, &stderr)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if out := stdout.String() + stderr.String(); code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("sets %s: exit %d, want %d with %q:\n%s", tc.sets, code, tc.code, tc.want, out)
		}
	}
}
