package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// tool is a program the benchmark runs and the Debian package shipping it.
type tool struct{ program, pkg string }

// requiredTools lists the programs the benchmark runs.
func requiredTools() []tool {
	return []tool{
		{"dnsperf", "dnsperf"},
		{"dnsmasq", "dnsmasq"},
		{"unbound", "unbound"},
		{"unbound-checkconf", "unbound"},
	}
}

// ensureTools installs, from Debian's packages, whichever tools are not on
// PATH. Package installation may try to start the packaged services; in a
// container without an init system that is a no-op.
func ensureTools(ctx context.Context, log io.Writer) error {
	var missing []string
	tools := requiredTools()
	for _, t := range tools {
		if _, err := exec.LookPath(t.program); err != nil && !slices.Contains(missing, t.pkg) {
			missing = append(missing, t.pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	fmt.Fprintf(log, "installing %s with apt-get\n", strings.Join(missing, " "))
	steps := []struct {
		timeout time.Duration
		args    []string
	}{
		{3 * time.Minute, []string{"update"}},
		{5 * time.Minute, append([]string{"install", "-y", "--no-install-recommends"}, missing...)},
	}
	for _, s := range steps {
		sctx, cancel := context.WithTimeout(ctx, s.timeout)
		cmd := exec.CommandContext(sctx, "apt-get", s.args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = log, log
		err := cmd.Run()
		cancel()
		if err != nil {
			return fmt.Errorf("apt-get %s: %w", strings.Join(s.args, " "), err)
		}
	}
	for _, t := range tools {
		if _, err := exec.LookPath(t.program); err != nil {
			return fmt.Errorf("%s still missing after installing %s", t.program, t.pkg)
		}
	}
	return nil
}

// machine describes where and with what the benchmark ran.
type machine struct {
	Date, CPUModel, Kernel, GoVersion  string
	CPUs                               int
	DNSPerf, Dnsmasq, Unbound, Dnsward string
	LoadStart, LoadEnd                 string // /proc/loadavg: other work on the machine skews the figures
}

// describeMachine gathers versions and the machine's shape.
func describeMachine(ctx context.Context, bin string) machine {
	m := machine{
		Date:      time.Now().UTC().Format("2006-01-02 15:04 MST"),
		CPUs:      runtime.NumCPU(),
		GoVersion: runtime.Version(),
		CPUModel:  cpuModel(),
		LoadStart: loadavg(),
	}
	first := func(out string, _ error) string {
		for line := range strings.SplitSeq(out, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				return line
			}
		}
		return "unknown"
	}
	m.Kernel = first(runBounded(ctx, 5*time.Second, "uname", "-r"))
	if out, err := runBounded(ctx, 5*time.Second, "go", "version"); err == nil {
		m.GoVersion = strings.TrimSpace(out)
	}
	m.DNSPerf = "unknown"
	out, _ := runBounded(ctx, 5*time.Second, "dnsperf", "-h")
	for line := range strings.SplitSeq(out, "\n") {
		if v, ok := strings.CutPrefix(line, "Version "); ok {
			m.DNSPerf = "dnsperf " + strings.TrimSpace(v)
		}
	}
	m.Dnsmasq, _, _ = strings.Cut(first(runBounded(ctx, 5*time.Second, "dnsmasq", "--version")), "  Copyright")
	m.Unbound = "unbound " + strings.TrimPrefix(first(runBounded(ctx, 5*time.Second, "unbound", "-V")), "Version ")
	m.Dnsward = first(runBounded(ctx, 5*time.Second, filepath.Join(bin, "dnsward"), "version"))
	return m
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
