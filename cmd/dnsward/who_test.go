package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dnsward/dnsward/testserver"
	"github.com/miekg/dns"
)

// TestWhoLive runs dnsward who against a running serve: the answer just
// given is in the table querylog who prints, --at narrows it, and a
// missing socket is explained.
func TestWhoLive(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	ts := testserver.ForTest(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "control.sock")
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--upstream", ts.Stamp, "--control", sock)
	lines, addr, _ := startServing(t, cmd)
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(new(dns.Msg).SetQuestion("www.example.test.", dns.TypeA), addr)
	if err != nil || len(r.Answer) != 3 {
		t.Fatalf("www.example.test.: %v %v", err, r)
	}

	who := func(args ...string) (string, error) {
		out, err := exec.Command(bin, append([]string{"who"}, args...)...).CombinedOutput()
		return string(out), err
	}
	out, err := who("192.0.2.1", "--control", sock)
	if err != nil {
		t.Fatalf("who: %v\n%s", err, out)
	}
	rows := strings.Split(strings.TrimSpace(out), "\n")
	if len(rows) != 2 || strings.Join(strings.Fields(rows[0]), " ") != "FIRST LAST VALID UNTIL COUNT CLIENT MAC HOST QNAME CHAIN" {
		t.Fatalf("who printed:\n%s", out)
	}
	f := strings.Fields(rows[1])
	if got := strings.Join(f[3:], " "); got != "- 127.0.0.1 - - www.example.test www.example.test > web.example.test > example.test" {
		t.Errorf("row %q", got)
	}
	first, _ := time.Parse(time.RFC3339, f[0])
	valid, _ := time.Parse(time.RFC3339, f[2])
	if d := valid.Sub(first); d < 5*time.Minute || d > 5*time.Minute+301*time.Second {
		t.Errorf("valid %v after the answer, want its TTL and the 5m grace", d)
	}
	for _, tc := range []struct {
		args []string
		rows int
	}{
		{[]string{"192.0.2.1", "--control", sock, "--at", "2020-01-01"}, 0},
		{[]string{"192.0.2.1", "--control", sock, "--client", "127.0.0.2"}, 0},
		{[]string{"2001:db8::1", "--control", sock}, 0}, // asked for A only
	} {
		out, err := who(tc.args...)
		if n := strings.Count(out, "\n") - 1; err != nil || n != tc.rows {
			t.Errorf("who %v: %v, %d rows:\n%s", tc.args, err, n, out)
		}
	}
	if out, err := who("192.0.2.1", "--control", filepath.Join(dir, "none.sock")); err == nil || !strings.Contains(out, "is dnsward running with control.socket set?") {
		t.Errorf("who on a missing socket: %v\n%s", err, out)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, lines, "msg=stopped")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("the control socket outlived serve: %v", err)
	}
}
