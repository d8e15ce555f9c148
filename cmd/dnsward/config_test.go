package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
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

// TestRepeatedForwardZonesUseEveryServer writes what import-dnsmasq makes
// of two server=/example.test/ lines, the first server answering and the
// second not: check-config says it merged them, and serve uses both, so
// the name resolves (before, the second entry replaced the first).
func TestRepeatedForwardZonesUseEveryServer(t *testing.T) {
	t.Parallel()
	live := testserver.ForTest(t)
	dead := "udp://" + silentUDP(t)
	file := filepath.Join(t.TempDir(), "dnsward.yaml")
	conf := fmt.Sprintf("listen: [\"127.0.0.1:0\"]\nupstreams: [%q]\nlocal: {hosts_files: []}\nforward_zones:\n"+
		"  - {domain: example.test, upstreams: [%q]}\n"+
		"  - {domain: example.test, upstreams: [%q]}\n", dead, live.PlainUDP(), dead)
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"check-config", "--config", file}, &stdout, &stderr); code != 0 ||
		!strings.Contains(stdout.String(), file+":6: forward_zones.1: example.test merged into forward_zones.0 (line 5)") ||
		!strings.Contains(stdout.String(), "configuration OK") {
		t.Errorf("check-config: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}

	cmd := exec.Command(binary(t), "serve", "--config", file)
	_, addr, _ := startServing(t, cmd)
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	r, _, err := (&dns.Client{Timeout: 8 * time.Second}).Exchange(new(dns.Msg).SetQuestion("example.test.", dns.TypeA), addr)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 || live.Queries("example.test.") == 0 {
		t.Errorf("example.test.: %s with %d answers, %d queries to the first server; want it answered by that server",
			dns.RcodeToString[r.Rcode], len(r.Answer), live.Queries("example.test."))
	}
}

// TestEmptyConfigRefusedAtStartAndOnReload: an emptied file stops neither
// a running server (it keeps its configuration) nor starts one.
func TestEmptyConfigRefusedAtStartAndOnReload(t *testing.T) {
	t.Parallel()
	ts := testserver.ForTest(t)
	file := filepath.Join(t.TempDir(), "dnsward.yaml")
	conf := fmt.Sprintf("listen: [\"127.0.0.1:0\"]\nupstreams: [%q]\nlocal:\n  hosts_files: []\n  records: [\"router.lan. 300 IN A 192.168.1.9\"]\n", ts.PlainUDP())
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := binary(t)
	cmd := exec.Command(bin, "serve", "--config", file)
	lines, addr, _ := startServing(t, cmd)
	defer func() { cmd.Process.Kill(); cmd.Wait() }()

	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, lines, file+": the file is empty")
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(new(dns.Msg).SetQuestion("router.lan.", dns.TypeA), addr)
	if err != nil || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.168.1.9" {
		t.Errorf("router.lan. after emptying the file: %v %v, want the running 192.168.1.9", err, r)
	}

	out, err := exec.Command(bin, "serve", "--config", file, "--listen", "127.0.0.1:0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), file+": the file is empty") {
		t.Errorf("serve with an empty file: %v\n%s", err, out)
	}
}

// silentUDP is the address of a UDP socket that never answers, open until
// the test ends: an upstream that is down.
func silentUDP(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}
