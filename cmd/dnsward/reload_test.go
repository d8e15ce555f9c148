package main

import (
	"bufio"
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
	ts := testserver.ForTest(t)
	dir := t.TempDir()
	list := filepath.Join(dir, "block.txt")
	hosts := filepath.Join(dir, "hosts")
	os.WriteFile(list, []byte("ads.example.test\n"), 0o644)
	os.WriteFile(hosts, []byte("192.168.1.10 nas\n"), 0o644)
	port := freePort(t)
	cmd := exec.Command(binary(t), "serve", "--listen", "127.0.0.1:"+port, "--upstream", ts.PlainUDP(), "--blocklist", list)
	cmd.Env = append(os.Environ(), "DNSWARD_LOCAL_HOSTS_FILES="+hosts)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	addr := "127.0.0.1:" + port
	waitServing(t, addr)
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
