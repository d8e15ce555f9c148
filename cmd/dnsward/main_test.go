package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dnsward/dnsward/testserver"
	"github.com/miekg/dns"
)

// binDir holds the binaries the package's tests share; TestMain makes it
// and removes it.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "dnsward-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	return m.Run()
}

// buildOnce builds dnsward into binDir on the first call: linking it
// took seconds for each of the tests that run it.
var buildOnce = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(binDir, "dnsward")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		return "", fmt.Errorf("build: %v\n%s", err, out)
	}
	return bin, nil
})

// binary is dnsward, built once per test run, so the tests drive the real
// program: its flags, its signals and its exit codes.
func binary(t *testing.T) string {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestCheckConfig: check-config's exit codes and messages, including what
// serve would not refuse (a blocklist file that does not exist) and an
// empty configuration, each named with its file.
func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	missingList := filepath.Join(dir, "missing-list.yaml")
	empty := filepath.Join(dir, "empty.yaml")
	os.WriteFile(good, []byte("upstreams: [udp://127.0.0.1:5300]\n"), 0o600)
	os.WriteFile(bad, []byte("upstreams:\n  - udp://127.0.0.1:5300\n  - sdns://nonsense\ncolour: blue\n"), 0o600)
	os.WriteFile(missingList, []byte("upstreams: [udp://127.0.0.1:5300]\nblocklists:\n  lists:\n    - {name: ads, path: /nonexistent.txt}\n"), 0o600)
	os.WriteFile(empty, []byte("# nothing set yet\n"), 0o600)
	tests := []struct {
		args   []string
		code   int
		output []string
	}{
		{[]string{"check-config"}, 0, []string{"configuration OK"}},
		{[]string{"check-config", "--config", good}, 0, []string{"configuration OK"}},
		{[]string{"check-config", "--config", bad}, 1, []string{bad + ":4: colour: unknown key"}},
		{[]string{"check-config", "--config", filepath.Join(dir, "missing.yaml")}, 1, []string{"missing.yaml", "no such file"}},
		{[]string{"check-config", "--config", missingList}, 1, []string{missingList + `:4: blocklists.lists.0.path: list "ads": /nonexistent.txt does not exist`}},
		{[]string{"check-config", "--blocklist", "/nonexistent.txt"}, 1, []string{`--blocklist /nonexistent.txt: blocklists.lists.0.path`}},
		{[]string{"check-config", "--config", empty}, 1, []string{empty + ": the file is empty or holds only comments"}},
		{[]string{"check-config", "--no-such-flag"}, 2, []string{"unknown flag"}},
		{[]string{"frobnicate"}, 2, []string{`unknown command "frobnicate"`, "check-config"}},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tt.args, &stdout, &stderr)
		out := stdout.String() + stderr.String()
		if code != tt.code {
			t.Errorf("%v: exit %d, want %d\n%s", tt.args, code, tt.code, out)
		}
		for _, w := range tt.output {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q:\n%s", tt.args, w, out)
			}
		}
	}
	// The second error in the bad file is reported after the first is fixed.
	os.WriteFile(bad, []byte("upstreams:\n  - udp://127.0.0.1:5300\n  - sdns://nonsense\n"), 0o600)
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"check-config", "--config", bad}, &bytes.Buffer{}, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), bad+":3: upstreams.1:") {
		t.Errorf("exit %d: %s", code, stderr.String())
	}
}

func TestServeAnswersAndStopsCleanly(t *testing.T) {
	t.Parallel()
	ts := testserver.ForTest(t)
	qlog := filepath.Join(t.TempDir(), "queries.log")
	cmd := exec.Command(binary(t), "serve", "--listen", "127.0.0.1:0", "--upstream", ts.Stamp, "--log-level", "debug", "--querylog", qlog)
	lines, addr, _ := startServing(t, cmd)
	// The start says where the query log goes.
	waitFor(t, lines, `msg="query log" file=`+qlog+" ")
	c := &dns.Client{Timeout: 2 * time.Second}
	for _, want := range []string{"source=upstream", "source=cache"} {
		r, _, err := c.Exchange(new(dns.Msg).SetQuestion("example.test.", dns.TypeA), addr)
		if err != nil || len(r.Answer) != 1 {
			t.Fatalf("query: %v %v", err, r)
		}
		waitFor(t, lines, want)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, lines, "msg=stopped")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

// TestSignalsWhileDraining sends SIGHUP and SIGUSR1 after SIGTERM, while a
// query still waits on a slow upstream: the process must finish that query
// and stop cleanly, not take the signals' defaults (SIGHUP's ends it).
func TestSignalsWhileDraining(t *testing.T) {
	t.Parallel()
	ts := testserver.ForTestWith(t, testserver.Options{Delay: 1500 * time.Millisecond})
	cmd := exec.Command(binary(t), "serve", "--listen", "127.0.0.1:0", "--upstream", ts.Stamp)
	cmd.Env = append(os.Environ(), "DNSWARD_UPSTREAM_TIMEOUT=4s", "DNSWARD_QUERY_TIMEOUT=5s")
	lines, addr, _ := startServing(t, cmd)
	type result struct {
		r   *dns.Msg
		err error
	}
	answered := make(chan result, 1)
	go func() {
		r, _, err := (&dns.Client{Timeout: 8 * time.Second}).Exchange(new(dns.Msg).SetQuestion("slow.gen.test.", dns.TypeA), addr)
		answered <- result{r, err}
	}()
	// The query waits on the upstream once the upstream has it (counted
	// before its delay).
	poll(t, "the query reaching the upstream", func() bool { return ts.Queries("slow.gen.test.") > 0 })
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Sent together, pending signals are delivered lowest number first
	// (SIGHUP before SIGTERM): wait until SIGTERM is being handled.
	waitFor(t, lines, "stopping: finishing the queries in flight")
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGUSR1} {
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
	}
	res := <-answered
	if res.err != nil || len(res.r.Answer) != 1 {
		t.Errorf("query in flight at SIGTERM: %v %v", res.err, res.r)
	}
	waitFor(t, lines, "msg=stopped")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
}

// start runs cmd and streams its standard error, a line at a time.
func start(t *testing.T, cmd *exec.Cmd) <-chan string {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return lines
}

// startServing starts cmd, a serve whose --listen (and --metrics, if
// any) give port 0, and waits for its "serving" line: the kernel picks free
// ports and the line says which, so no port is chosen here that another
// process could take first. It returns the log lines that follow, the DNS
// address and the metrics address ("" without --metrics).
func startServing(t *testing.T, cmd *exec.Cmd) (lines <-chan string, addr, metrics string) {
	t.Helper()
	lines = start(t, cmd)
	addr, metrics = servingAddrs(t, waitFor(t, lines, "msg=serving"))
	return lines, addr, metrics
}

// servingAddrs reads serve's "serving" log line: the first bound DNS
// address, and the metrics address when there is one.
func servingAddrs(t *testing.T, line string) (addr, metrics string) {
	t.Helper()
	m := regexp.MustCompile(`listen=\[(\S+?)[\] ]`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no listen address in %q", line)
	}
	if mm := regexp.MustCompile(` metrics=(\S+)`).FindStringSubmatch(line); mm != nil {
		metrics = mm[1]
	}
	return m[1], metrics
}

// poll waits until cond holds, checking every 10 ms for up to 10 s.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// waitFor reads lines until one contains want, and returns it.
func waitFor(t *testing.T, lines <-chan string, want string) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("program exited before logging %q", want)
			}
			if strings.Contains(l, want) {
				return l
			}
		case <-deadline:
			t.Fatalf("no log line with %q", want)
		}
	}
}

func TestBlocklistTestCommand(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "dnsward.yaml")
	conf := "blocklists:\n  rules: [ads.test, '@@||ok.kids.test^']\n  groups:\n" +
		"    - name: kids\n      clients: [192.168.1.128/26]\n      rules: [kids.test]\n"
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := binary(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"x.ads.test"}, `x.ads.test: blocked by list "config", rule "ads.test"`},
		{[]string{"teredo.ipv6.microsoft.com"}, "teredo.ipv6.microsoft.com: not blocked"}, // a file replaces the default rules
		{[]string{"games.kids.test"}, "games.kids.test: not blocked"},
		{[]string{"--client", "192.168.1.130", "games.kids.test"}, `games.kids.test: blocked by list "kids/config", rule "kids.test"`},
		{[]string{"--client", "192.168.1.130", "ok.kids.test"}, `ok.kids.test: allowed by list "config", rule "@@||ok.kids.test^"`},
		{[]string{"--client", "192.168.1.10", "games.kids.test"}, "games.kids.test: not blocked"},
	}
	for _, tt := range tests {
		out, err := exec.Command(bin, append([]string{"blocklist", "test", "--config", file}, tt.args...)...).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != tt.want {
			t.Errorf("blocklist test %v: %q (%v), want %q", tt.args, out, err, tt.want)
		}
	}
	// A list file that is not there fails the test, naming the file: an
	// answer without it would say "not blocked" for what it lists.
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"blocklist", "test", "--config", file, "--blocklist", "/nonexistent.txt", "x.ads.test"}, &stdout, &stderr)
	if code != 1 || stdout.Len() > 0 || !strings.Contains(stderr.String(), "/nonexistent.txt: no such file") {
		t.Errorf("missing list: exit %d, stdout %q, stderr %q; want exit 1 naming /nonexistent.txt", code, stdout.String(), stderr.String())
	}
}

// Under systemd (Type=notify) dnsward reports readiness once it serves.
func TestNotifiesSystemdWhenServing(t *testing.T) {
	t.Parallel()
	ts := testserver.ForTest(t)
	socket := filepath.Join(t.TempDir(), "notify")
	pc, err := net.ListenPacket("unixgram", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	cmd := exec.Command(binary(t), "serve", "--listen", "127.0.0.1:0", "--upstream", ts.PlainUDP())
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+socket)
	lines := start(t, cmd)
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	n, _, err := pc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("notification %q, %v; want READY=1", buf[:n], err)
	}
	addr, _ := servingAddrs(t, waitFor(t, lines, "msg=serving"))
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(new(dns.Msg).SetQuestion("example.test.", dns.TypeA), addr)
	if err != nil || len(r.Answer) != 1 {
		t.Fatalf("after READY=1: %v %v", err, r)
	}
}

// TestHelp asks every command for --help: exit 0, the usage once on
// stdout, and only that command's flags.
func TestHelp(t *testing.T) {
	tests := []struct {
		args        []string
		want, avoid []string
		usages      int // "Usage:" lines; 0 means 1
	}{
		{[]string{"serve", "--help"}, []string{"--listen", "--upstream", "--metrics"}, nil, 0},
		{[]string{"check-config", "-h"}, []string{"--config", "--listen"}, nil, 0},
		{[]string{"import-dnsmasq", "--help"}, []string{"import-dnsmasq /etc/dnsmasq.conf"}, []string{"--listen", "--config"}, 0},
		// Both subcommands' flags, once each, for the man page.
		{[]string{"querylog", "--help"}, []string{"querylog export [--from", "querylog who IP [--from", "--since time", "--domain suffix"}, []string{"--listen"}, 3},
		{[]string{"querylog", "who", "--help"}, []string{"who IP", "--from", "--config"}, []string{"--listen", "--upstream", "--since"}, 0},
		{[]string{"querylog", "export", "--from", "x.log", "--help"}, []string{"--since", "--domain", "--format", "--from"},
			[]string{"--listen", "--upstream", "--blocklist", "--log-level"}, 0},
		{[]string{"flows", "--help"}, []string{"--from", "--since", "--until", "--client", "--unexplained", "--top", "--config"}, []string{"--listen", "--upstream", "--domain"}, 0},
		{[]string{"stats", "--help"}, []string{"--config", "--metrics"}, []string{"--listen", "--upstream", "--querylog"}, 0},
		{[]string{"blocklist", "--help"}, []string{"blocklist test [flags] NAME", "--client"}, []string{"--listen"}, 0},
		{[]string{"blocklist", "test", "--help"}, []string{"--blocklist", "--client"}, []string{"--listen", "--upstream", "--querylog"}, 0},
		{[]string{"version", "--help"}, []string{"dnsward version"}, []string{"--"}, 0},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tt.args, &stdout, &stderr)
		out := stdout.String()
		if code != 0 || stderr.Len() > 0 || !strings.HasPrefix(out, "Usage:") || strings.Count(out, "Usage:") != max(tt.usages, 1) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 0 and one usage on stdout", tt.args, code, out, stderr.String())
		}
		for _, w := range tt.want {
			if strings.Count(out, w) != 1 {
				t.Errorf("%v: %q appears %d times, want once:\n%s", tt.args, w, strings.Count(out, w), out)
			}
		}
		for _, a := range tt.avoid {
			if strings.Contains(out, a) {
				t.Errorf("%v: help lists %q:\n%s", tt.args, a, out)
			}
		}
	}
}
