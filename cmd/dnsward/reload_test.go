package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/dnsward/dnsward/testserver"
	"github.com/miekg/dns"
)

// TestSIGHUPReloadsListsAndNames edits a blocklist and a hosts file under
// a running server: SIGHUP applies good edits, and a list that turns to
// junk keeps its last good version in force.
func TestSIGHUPReloadsListsAndNames(t *testing.T) {
	t.Parallel()
	ts := testserver.ForTest(t)
	dir := t.TempDir()
	list := filepath.Join(dir, "block.txt")
	hosts := filepath.Join(dir, "hosts")
	os.WriteFile(list, []byte("ads.example.test\n"), 0o644)
	os.WriteFile(hosts, []byte("192.168.1.10 nas\n"), 0o644)
	cmd := exec.Command(binary(t), "serve", "--listen", "127.0.0.1:0", "--upstream", ts.PlainUDP(), "--blocklist", list)
	cmd.Env = append(os.Environ(), "DNSWARD_LOCAL_HOSTS_FILES="+hosts)
	lines, addr, _ := startServing(t, cmd)
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	rcode := func(name string) int {
		t.Helper()
		r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), addr)
		if err != nil {
			t.Fatal(err)
		}
		return r.Rcode
	}
	// eventually polls, since the reload happens after the signal arrives.
	eventually := func(name string, want int) {
		t.Helper()
		for range 100 {
			if rcode(name) == want {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s: rcode %s, want %s", name, dns.RcodeToString[rcode(name)], dns.RcodeToString[want])
	}
	eventually("ads.example.test.", dns.RcodeNameError)
	eventually("nas.", dns.RcodeSuccess)
	if rcode("mail.example.test.") != dns.RcodeSuccess || rcode("printer.") != dns.RcodeNameError {
		t.Fatal("unexpected answers before the edits")
	}

	os.WriteFile(list, []byte("ads.example.test\nmail.example.test\n"), 0o644)
	os.WriteFile(hosts, []byte("192.168.1.10 nas\n192.168.1.11 printer\n"), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	eventually("mail.example.test.", dns.RcodeNameError)
	eventually("printer.", dns.RcodeSuccess)

	junk := make([]byte, 4096)
	for i := range junk {
		junk[i] = byte(i*7 + 3)
	}
	os.WriteFile(list, junk, 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, lines, "the previous version of each failing list stays in force")
	if rcode("mail.example.test.") != dns.RcodeNameError || rcode("ads.example.test.") != dns.RcodeNameError {
		t.Fatal("a junk list on reload emptied the running blocklist")
	}
}

// TestSIGHUPReloadsConfig edits the configuration file under a running
// server: a good edit takes effect whole (records, upstreams, rules), a
// broken one is refused with its file and line while the running
// configuration keeps answering.
func TestSIGHUPReloadsConfig(t *testing.T) {
	t.Parallel()
	first, second := testserver.ForTest(t), testserver.ForTest(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "dnsward.yaml")
	write := func(upstream, record, extra string) {
		t.Helper()
		conf := fmt.Sprintf("listen: [\"127.0.0.1:0\"]\nupstreams: [%q]\nlocal:\n  hosts_files: []\n  records: [%q]\n%s", upstream, record, extra)
		if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(first.PlainUDP(), "router.lan. 300 IN A 192.168.1.1", "")
	cmd := exec.Command(binary(t), "serve", "--config", file)
	lines, addr, _ := startServing(t, cmd)
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	answer := func(name string) string {
		t.Helper()
		r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), addr)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Answer) == 0 {
			return dns.RcodeToString[r.Rcode]
		}
		return r.Answer[len(r.Answer)-1].(*dns.A).A.String()
	}
	if got := answer("router.lan."); got != "192.168.1.1" {
		t.Fatalf("router.lan. before the edit: %s", got)
	}

	write(second.PlainUDP(), "router.lan. 300 IN A 192.168.1.2", "blocklists:\n  rules: [ads.example.test]\n")
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, lines, "configuration reloaded")
	if got := answer("router.lan."); got != "192.168.1.2" {
		t.Errorf("router.lan. after the edit: %s", got)
	}
	if got := answer("ads.example.test."); got != "NXDOMAIN" {
		t.Errorf("ads.example.test. after the edit: %s, want NXDOMAIN (blocked)", got)
	}
	answer("mail.example.test.")
	if first.Queries("mail.example.test.") != 0 || second.Queries("mail.example.test.") != 1 {
		t.Errorf("mail.example.test. asked of the old upstream %d times, the new %d; want 0 and 1",
			first.Queries("mail.example.test."), second.Queries("mail.example.test."))
	}

	write(first.PlainUDP(), "router.lan. 300 IN A 192.168.1.3", "cahce:\n  size: 10\n")
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, lines, file+":6: cahce: unknown key")
	if got := answer("router.lan."); got != "192.168.1.2" {
		t.Errorf("router.lan. after a broken edit: %s, want the running 192.168.1.2", got)
	}
}
