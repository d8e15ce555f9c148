package packaging

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDebianPackage runs test-deb.sh, which builds the .deb for amd64 and
// arm64, lints it and installs, upgrades, removes and purges it in a freshly
// bootstrapped Debian root, then boots that root with systemd-nspawn to run
// the unit under systemd. It runs in CI, which is root on Debian; anywhere
// else it says what it lacks and skips.
func TestDebianPackage(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to bootstrap a Debian root, chroot and install into it (CI runs as root)")
	}
	var missing []string
	for _, tool := range []string{"dpkg-deb", "help2man", "lintian", "debootstrap", "unshare", "chroot", "dig", "make", "systemd-nspawn", "nsenter", "pgrep"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		t.Skipf("Debian tools missing: %s (apt-get install debootstrap dnsutils help2man lintian make systemd-container)", strings.Join(missing, ", "))
	}

	// The script's builds use the go that runs this test, wherever PATH points.
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	// Leave time to report before go test's own deadline kills everything
	// without saying which step hung.
	ctx := context.Background()
	if deadline, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-30*time.Second))
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, "./test-deb.sh")
	cmd.Env = append(os.Environ(), "GO="+goCmd)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// The script's builds, debootstrap and namespaces are its children:
	// stopping it stops them all, and its trap removes its files.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 20 * time.Second

	start := time.Now()
	err = cmd.Run()
	took := time.Since(start).Round(time.Second)
	if err != nil {
		t.Fatalf("packaging/test-deb.sh failed after %s: %v\n%s", took, err, out.String())
	}
	t.Logf("packaging/test-deb.sh passed in %s:\n%s", took, out.String())
}
