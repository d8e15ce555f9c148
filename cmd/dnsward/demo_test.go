package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemo runs make demo's script on the binaries this test builds: it
// shows the first example.test answer as coming from upstream, not from a
// cache warmed by a probe, and ends with the query log's records; on a
// port that is taken it fails and shows dnsward's own error.
func TestDemo(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("dig"); err != nil {
		t.Skip("skipped: needs dig (apt-get install dnsutils)")
	}
	// The script wants both binaries in one directory, dnsward by that name.
	dir := t.TempDir()
	if err := os.Symlink(binary(t), filepath.Join(dir, "dnsward")); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "dnscrypt-testserver"), "../dnscrypt-testserver").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	demo := func(env ...string) (string, error) {
		cmd := exec.Command("bash", "../../scripts/demo.sh")
		cmd.Env = append(os.Environ(), append(env, "DEMO_BIN="+dir)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := demo()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	first := strings.Index(out, "name=example.test. type=A")
	if first < 0 || !strings.Contains(out[first:strings.Index(out[first:], "\n")+first], "source=upstream") {
		t.Errorf("the first example.test A is not from upstream:\n%s", out)
	}
	if !strings.Contains(out, "--- the query log's records") || strings.Count(out, "qname=example.test ") < 3 {
		t.Errorf("no query-log records at the end:\n%s", out)
	}

	taken, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	_, port, _ := net.SplitHostPort(taken.LocalAddr().String())
	out, err = demo("DEMO_PORT=" + port)
	if err == nil || !strings.Contains(out, "address already in use") {
		t.Errorf("demo on a taken port: %v, want a failure showing the bind error:\n%s", err, out)
	}
}
