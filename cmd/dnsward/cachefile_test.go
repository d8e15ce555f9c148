package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/dnsward/dnsward/querylog"
	"github.com/dnsward/dnsward/testserver"
	"github.com/miekg/dns"
)

// TestCacheSurvivesRestart: a clean stop writes the cache to state_dir and
// the next start answers from it, with the upstream gone; a damaged file
// is logged and ignored, and the start goes on.
func TestCacheSurvivesRestart(t *testing.T) {
	ts, err := testserver.Start(testserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	upClosed := false
	defer func() {
		if !upClosed {
			ts.Close()
		}
	}()
	bin := binary(t)
	state := filepath.Join(t.TempDir(), "state")
	names := []string{"a.direct.test.", "b.shared.test."}
	serve := func(qlog string) (*exec.Cmd, <-chan string, string) {
		cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--upstream", ts.PlainUDP(), "--querylog", qlog)
		cmd.Env = append(os.Environ(), "DNSWARD_STATE_DIR="+state)
		lines, addr, _ := startServing(t, cmd)
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd, lines, addr
	}
	stop := func(cmd *exec.Cmd, lines <-chan string, want string) {
		t.Helper()
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		waitFor(t, lines, want)
		waitFor(t, lines, "msg=stopped")
		if err := cmd.Wait(); err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	}
	ask := func(addr string) map[string]string {
		t.Helper()
		got := map[string]string{}
		for _, name := range names {
			r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), addr)
			if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
				t.Fatalf("%s: %v %v", name, err, r)
			}
			got[name] = r.Answer[len(r.Answer)-1].(*dns.A).A.String()
		}
		return got
	}

	dir := t.TempDir()
	cmd, lines, addr := serve(filepath.Join(dir, "first.log"))
	first := ask(addr)
	stop(cmd, lines, `msg="cache saved" file=`+filepath.Join(state, "cache")+" entries=2 ")

	ts.Close()
	upClosed = true
	second := filepath.Join(dir, "second.log")
	cmd, lines, addr = serve(second)
	if got := ask(addr); got[names[0]] != first[names[0]] || got[names[1]] != first[names[1]] {
		t.Errorf("answers after the restart %v, want %v", got, first)
	}
	stop(cmd, lines, "msg=\"cache saved\"")
	data, err := os.ReadFile(second)
	if err != nil {
		t.Fatal(err)
	}
	logged := 0
	for sc := bufio.NewScanner(bytes.NewReader(data)); sc.Scan(); logged++ {
		r, err := querylog.ParseLine(sc.Bytes())
		if err != nil {
			t.Fatalf("unparsable line %q: %v", sc.Text(), err)
		}
		if r.Source != "cache" || r.Upstream != ts.PlainUDP() {
			t.Errorf("record %+v: want source cache from upstream %s", r, ts.PlainUDP())
		}
	}
	if logged == 0 {
		t.Error("nothing logged after the restart")
	}

	// A file cut short, as a full disk might leave it: logged, ignored.
	path := filepath.Join(state, "cache")
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, file[:len(file)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--upstream", "udp://127.0.0.1:9")
	cmd.Env = append(os.Environ(), "DNSWARD_STATE_DIR="+state)
	lines = start(t, cmd)
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, lines, `msg="cache file ignored; the cache starts empty" err="cache file `+path+`: not a usable cache file`)
	waitFor(t, lines, "msg=serving")
	stop(cmd, lines, "msg=\"cache saved\"")
}
