package packaging

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDebianPackage runs test-deb.sh, which builds the .deb for amd64 and
// arm64, lints it and installs, upgrades, removes and purges it in a freshly
// bootstrapped Debian root, then boots that root with systemd-nspawn to run
// the unit under systemd. It runs in CI, which is root on Debian: there a
// missing tool fails it. Anywhere else it skips, saying why (make test runs
// it verbose so that the skip shows).
func TestDebianPackage(t *testing.T) {
	have := func(tool string) bool { _, err := exec.LookPath(tool); return err == nil }
	skip, fail := prerequisites(os.Getuid() == 0, hostTools(t), have)
	if skip != "" {
		t.Skip(skip)
	}
	if fail != "" {
		t.Fatal(fail)
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

// hostTool is a tool test-deb.sh runs on the host, and the Debian package
// that has it.
type hostTool struct{ name, pkg string }

// hostTools reads test-deb.sh's host_tools list, so that the script, this
// test and .ci/run go by one list.
func hostTools(t *testing.T) []hostTool {
	t.Helper()
	script, err := os.ReadFile("test-deb.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^host_tools=\(([^)]*)\)`).FindSubmatch(script)
	if m == nil {
		t.Fatal("test-deb.sh: no host_tools=(...) line")
	}
	var tools []hostTool
	for _, f := range strings.Fields(string(m[1])) {
		name, pkg, ok := strings.Cut(f, ":")
		if !ok || name == "" || pkg == "" {
			t.Fatalf("test-deb.sh: host_tools entry %q is not TOOL:PACKAGE", f)
		}
		tools = append(tools, hostTool{name, pkg})
	}
	return tools
}

// prerequisites says why the package test cannot run, if it cannot. As a
// user it is skipped (skip says why); as root, where CI runs it, a missing
// tool fails it (fail), so that an image lacking one cannot pass make test
// without the package test.
func prerequisites(root bool, tools []hostTool, have func(string) bool) (skip, fail string) {
	var missing, pkgs []string
	for _, tool := range tools {
		if !have(tool.name) {
			missing = append(missing, tool.name)
			if !slices.Contains(pkgs, tool.pkg) {
				pkgs = append(pkgs, tool.pkg)
			}
		}
	}
	lacks := fmt.Sprintf("%s missing (apt-get install %s)", strings.Join(missing, ", "), strings.Join(pkgs, " "))
	switch {
	case !root && len(missing) > 0:
		return "skipped: needs root to bootstrap a Debian root and install into it (CI runs it as root); also " + lacks, ""
	case !root:
		return "skipped: needs root to bootstrap a Debian root and install into it (CI runs it as root)", ""
	case len(missing) > 0:
		return "", "the package test runs as root, but " + lacks
	}
	return "", ""
}

func TestPrerequisites(t *testing.T) {
	tools := []hostTool{{"dpkg-deb", "dpkg"}, {"unshare", "util-linux"}, {"nsenter", "util-linux"}, {"pgrep", "procps"}}
	tests := []struct {
		name       string
		root       bool
		missing    []string
		skip, fail string // substrings; "" = none
	}{
		{"user, every tool", false, nil, "skipped: needs root", ""},
		{"user, a tool missing", false, []string{"pgrep"}, "also pgrep missing (apt-get install procps)", ""},
		{"root, every tool", true, nil, "", ""},
		{"root, pgrep missing", true, []string{"pgrep"}, "", "pgrep missing (apt-get install procps)"},
		{"root, two tools of one package", true, []string{"unshare", "nsenter", "pgrep"}, "", "unshare, nsenter, pgrep missing (apt-get install util-linux procps)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			have := func(tool string) bool { return !slices.Contains(tt.missing, tool) }
			skip, fail := prerequisites(tt.root, tools, have)
			if (skip == "") != (tt.skip == "") || !strings.Contains(skip, tt.skip) {
				t.Errorf("skip = %q, want %q", skip, tt.skip)
			}
			if (fail == "") != (tt.fail == "") || !strings.Contains(fail, tt.fail) {
				t.Errorf("fail = %q, want %q", fail, tt.fail)
			}
		})
	}
}

// TestCIInstallsHostTools: .ci/run, which runs make test as root, installs
// the package of every tool test-deb.sh needs, so that CI runs the package
// test instead of failing for a missing tool.
func TestCIInstallsHostTools(t *testing.T) {
	ci, err := os.ReadFile("../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	var installed []string
	for _, line := range strings.Split(string(ci), "\n") {
		_, args, ok := strings.Cut(line, "apt-get install ")
		if !ok || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, a := range strings.Fields(args) {
			if !strings.HasPrefix(a, "-") {
				installed = append(installed, a)
			}
		}
	}
	tools := hostTools(t)
	if len(tools) == 0 {
		t.Fatal("test-deb.sh lists no host tools")
	}
	for _, tool := range tools {
		if !slices.Contains(installed, tool.pkg) {
			t.Errorf(".ci/run does not install %s, which has %s (installs %q)", tool.pkg, tool.name, installed)
		}
	}
}
