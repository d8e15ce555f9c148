package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strings"
	"testing"

	"github.com/dnsward/dnsward/testserver"
)

// TestDropsPrivileges starts dnsward as root with a user configured: once
// serving, it must run as that user.
func TestDropsPrivileges(t *testing.T) {
	t.Parallel()
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	ts := testserver.ForTest(t)
	cmd := exec.Command(binary(t), "serve", "--listen", "127.0.0.1:0", "--upstream", ts.Stamp)
	cmd.Env = append(os.Environ(), "DNSWARD_USER=nobody")
	startServing(t, cmd)
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if f := strings.Fields(line); len(f) == 5 && (f[0] == "Uid:" || f[0] == "Gid:") {
			want := nobody.Uid
			if f[0] == "Gid:" {
				want = nobody.Gid
			}
			for _, id := range f[1:] {
				if id != want {
					t.Errorf("%s %v, want all %s", f[0], f[1:], want)
				}
			}
		}
	}
}
