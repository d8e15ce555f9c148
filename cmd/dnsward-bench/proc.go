package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stopGrace is how long a server gets to exit after SIGTERM before SIGKILL.
const stopGrace = 3 * time.Second

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat; it
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// proc is one long-running server the harness started.
type proc struct {
	name    string
	cmd     *exec.Cmd
	started time.Time     // just after the process was forked
	done    chan struct{} // closed when the process has exited
	err     error         // Wait's result, valid once done is closed
}

// fleet owns every server process of a run, so all of them are stopped on
// every way out: normal return, error or SIGINT.
type fleet struct {
	mu    sync.Mutex
	procs []*proc
}

// start runs name with args in the background, its stdout and stderr going
// to the given writers (nil: discarded). The process is killed by the
// kernel should the harness die without cleaning up (Pdeathsig).
func (f *fleet) start(name string, stdout, stderr io.Writer, path string, args ...string) (*proc, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = harnessEnv()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, started: time.Now(), done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	f.mu.Lock()
	f.procs = append(f.procs, p)
	f.mu.Unlock()
	return p, nil
}

// pid is the process id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended, and how.
func (p *proc) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after stopGrace.
func (p *proc) stop() {
	if ok, _ := p.exited(); ok {
		return
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopGrace):
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		<-p.done
	}
}

// stop ends one process and forgets it.
func (f *fleet) stop(p *proc) {
	p.stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, q := range f.procs {
		if q == p {
			f.procs = append(f.procs[:i], f.procs[i+1:]...)
			break
		}
	}
}

// stopAll ends every process still running, newest first.
func (f *fleet) stopAll() {
	f.mu.Lock()
	procs := f.procs
	f.procs = nil
	f.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(p.stop)
	}
	wg.Wait()
}

// cpuTime is a process's user plus system CPU time so far, all threads.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime and stime (fields 14 and 15) of a /proc/PID/stat
// line. The command name in parentheses may hold spaces, so fields are
// counted from the last ')'.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("proc stat: no command name")
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime 15.
	if len(f) < 13 {
		return 0, errors.New("proc stat: too few fields")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("proc stat: %w", err)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// threadSampleEvery is how often busiestThread reads a process's threads.
const threadSampleEvery = 250 * time.Millisecond

// threadTimes is the CPU time so far of each thread of pid, by thread id.
// A thread that ends between listing and reading is left out.
func threadTimes(pid int) (map[string]time.Duration, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	times := make(map[string]time.Duration, len(tasks))
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "stat"))
		if err != nil {
			continue
		}
		if cpu, err := parseStatCPU(string(b)); err == nil {
			times[t.Name()] = cpu
		}
	}
	return times, nil
}

// busiestThread follows pid's threads until done is closed and returns the
// CPU use of the busiest one, in % of one core, over the time it was seen.
// dnsperf sends and receives on separate threads, so its total CPU can
// pass one core while neither thread is the bottleneck; one thread near a
// full core is what says dnsperf, not the server, set the pace.
func busiestThread(pid int, done <-chan struct{}) float64 {
	first, last := map[string]cpuSample{}, map[string]cpuSample{}
	tick := time.NewTicker(threadSampleEvery)
	defer tick.Stop()
	for {
		if times, err := threadTimes(pid); err == nil {
			now := time.Now()
			for tid, cpu := range times {
				if _, seen := first[tid]; !seen {
					first[tid] = cpuSample{cpu, now}
				}
				last[tid] = cpuSample{cpu, now}
			}
		}
		select {
		case <-done:
			return busiestOf(first, last)
		case <-tick.C:
		}
	}
}

// cpuSample is a thread's CPU time so far, and when it was read.
type cpuSample struct {
	cpu time.Duration
	at  time.Time
}

// busiestOf is the highest CPU use, in % of one core, of any thread between
// its first and last sample. A thread seen for under a second is left
// out: ten-millisecond clock ticks say too little over a shorter time.
func busiestOf(first, last map[string]cpuSample) float64 {
	busiest := 0.0
	for tid, l := range last {
		f := first[tid]
		if window := l.at.Sub(f.at); window >= time.Second {
			busiest = max(busiest, 100*(l.cpu-f.cpu).Seconds()/window.Seconds())
		}
	}
	return busiest
}

// rssKiB is a process's resident set size (VmRSS) in KiB.
func rssKiB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, errors.New("proc status: no VmRSS")
}

// machineBusy is the CPU time all CPUs together have spent not idle since
// boot, from the first line of /proc/stat.
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return parseMachineBusy(string(b))
}

// parseMachineBusy sums user, nice, system, irq, softirq and steal of the
// "cpu" line (idle and iowait left out).
func parseMachineBusy(stat string) (time.Duration, error) {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, errors.New("/proc/stat: no cpu line")
	}
	var ticks int64
	for i, v := range f[1:9] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// runBounded runs a short command to completion within timeout and returns
// its combined output.
func runBounded(ctx context.Context, timeout time.Duration, path string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = harnessEnv()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// harnessEnv is the harness's environment without DNSWARD_* variables:
// dnsward reads them and they override the generated configuration file,
// so a setting left in the caller's shell would change what is measured.
func harnessEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "DNSWARD_") })
}
