package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
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

// requiredTools lists the programs the benchmark runs. dnsmasq-base, not
// dnsmasq: the latter adds a system service that would start (and on a
// systemd host be enabled) as a resolver on port 53.
func requiredTools() []tool {
	return []tool{
		{"dnsperf", "dnsperf"},
		{"dnsmasq", "dnsmasq-base"},
		{"unbound", "unbound"},
		{"unbound-checkconf", "unbound"},
	}
}

// policyRCD is Debian's hook that invoke-rc.d and deb-systemd-invoke ask
// before starting a service; exit status 101 forbids it.
const policyRCD = "/usr/sbin/policy-rc.d"

// ensureTools installs, from Debian's packages, whichever tools are not on
// PATH. unbound has no binary-only package, so the installation runs under
// a policy-rc.d that forbids starting its service.
func ensureTools(ctx context.Context, log io.Writer) (err error) {
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
	restore, err := forbidServiceStarts()
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, restore()) }()
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
		cmd.Env = append(harnessEnv(), "DEBIAN_FRONTEND=noninteractive")
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
	if slices.Contains(missing, "unbound") {
		disableUnboundService(ctx, log)
	}
	return nil
}

// disableUnboundService keeps the unbound the benchmark installed as a tool
// from becoming this machine's resolver at the next boot: its package
// enables the service even when policy-rc.d stops it starting now. Without
// a booted systemd there is nothing to disable.
func disableUnboundService(ctx context.Context, log io.Writer) {
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		return
	}
	cmd := exec.CommandContext(ctx, "systemctl", "disable", "unbound.service", "unbound-resolvconf.service")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(log, "warning: systemctl disable unbound: %v\n", err)
	}
}

// forbidServiceStarts installs a policy-rc.d that refuses every service
// start, unless the machine already has one (its owner's policy stands),
// and returns what removes it again.
func forbidServiceStarts() (restore func() error, err error) {
	f, err := os.OpenFile(policyRCD, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if errors.Is(err, fs.ErrExist) {
		return func() error { return nil }, nil
	}
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", policyRCD, err)
	}
	_, werr := f.WriteString("#!/bin/sh\n# dnsward-bench: no service starts while it installs packages.\nexit 101\n")
	remove := func() error {
		if err := os.Remove(policyRCD); err != nil {
			return fmt.Errorf("remove %s: %w", policyRCD, err)
		}
		return nil
	}
	if err := errors.Join(werr, f.Close()); err != nil {
		return nil, errors.Join(fmt.Errorf("write %s: %w", policyRCD, err), remove())
	}
	return remove, nil
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
