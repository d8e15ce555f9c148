package main

import (
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/dnsward/dnsward/testserver"
)

// TestServeWebPage serves with --web on loopback: the page answers on the
// address the log names; --web off loopback without credentials is
// refused before anything is bound, naming the flag.
func TestServeWebPage(t *testing.T) {
	ts := testserver.ForTest(t)
	cmd := exec.Command(binary(t), "serve", "--listen", "127.0.0.1:0", "--upstream", ts.Stamp, "--web", "127.0.0.1:0")
	lines := start(t, cmd)
	m := regexp.MustCompile(`msg="web page" listen=(\S+)`).FindStringSubmatch(waitFor(t, lines, `msg="web page"`))
	if m == nil {
		t.Fatal("no web page address in the log")
	}
	resp, err := http.Get("http://" + m[1] + "/api/summary")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("GET /api/summary: %s, X-Frame-Options %q", resp.Status, resp.Header.Get("X-Frame-Options"))
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}

	out, err := exec.Command(binary(t), "serve", "--listen", "127.0.0.1:0", "--upstream", ts.Stamp, "--web", "0.0.0.0:0").CombinedOutput()
	if want := `--web: web.listen: "0.0.0.0:0" is not a loopback address`; err == nil || !strings.Contains(string(out), want) {
		t.Errorf("serve --web 0.0.0.0:0: %v, %s; want %q", err, out, want)
	}
}
