// Package netnstest builds network namespaces for the root-only tests that
// need a real kernel: a router forwarding between a LAN and servers, its
// conntrack and nftables. Namespaces are removed when the test ends.
package netnstest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Skip is the reason a test gives when it cannot run here.
const Skip = "skipped: needs root and network namespaces"

// Lab is a set of network namespaces, one per role.
type Lab struct {
	t    *testing.T
	name map[string]string
}

// Require skips t unless it runs as root; as root (as CI runs it) it
// fails t when a command of tools is missing, since a root run that
// skipped would pass without testing anything.
func Require(t testing.TB, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip(Skip)
	}
	for _, p := range tools {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("as root this test must run, but %s is missing (.ci/run installs it): %v", p, err)
		}
	}
}

// New creates a namespace for each role, with its loopback up; see
// Require for what it does when not root or when ip or a tool is missing.
func New(t *testing.T, prefix string, roles []string, tools ...string) *Lab {
	t.Helper()
	Require(t, append([]string{"ip"}, tools...)...)
	l := &Lab{t: t, name: map[string]string{}}
	for _, role := range roles {
		n := fmt.Sprintf("%s-%d-%s", prefix, os.Getpid(), role)
		if out, err := exec.Command("ip", "netns", "add", n).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add %s: %v: %s", n, err, out)
		}
		t.Cleanup(func() { exec.Command("ip", "netns", "del", n).Run() })
		l.name[role] = n
		l.IP(role, "link set lo up")
	}
	return l
}

// Name is role's namespace name, for `ip netns exec`.
func (l *Lab) Name(role string) string { return l.name[role] }

// Link joins router and peer by a veth pair (rdev in router with raddr,
// pdev in peer with paddr, both CIDR) and routes peer's default traffic
// through router.
func (l *Lab) Link(router, peer, rdev, pdev, raddr, paddr string) {
	l.t.Helper()
	l.IP(router, fmt.Sprintf("link add %s type veth peer name %s netns %s", rdev, pdev, l.name[peer]))
	l.IP(router, "addr add "+raddr+" dev "+rdev)
	l.IP(router, "link set up dev "+rdev)
	l.IP(peer, "addr add "+paddr+" dev "+pdev)
	l.IP(peer, "link set up dev "+pdev)
	gw, _, _ := strings.Cut(raddr, "/")
	l.IP(peer, "route add default via "+gw)
}

// IP runs `ip -n <role's namespace> args`, failing the test on error.
func (l *Lab) IP(role, args string) {
	l.t.Helper()
	if out, err := exec.Command("ip", append([]string{"-n", l.name[role]}, strings.Fields(args)...)...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip -n %s %s: %v: %s", role, args, err, out)
	}
}

// Exec runs args in role's namespace with stdin, failing the test on error.
func (l *Lab) Exec(role, stdin string, args ...string) {
	l.t.Helper()
	Run(l.t, stdin, append([]string{"ip", "netns", "exec", l.name[role]}, args...)...)
}

// Run runs a fixture command with stdin and returns its output, failing t
// if it fails.
func Run(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// FD opens role's namespace for a netlink socket to be dialled in.
func (l *Lab) FD(role string) int {
	l.t.Helper()
	f, err := os.Open("/run/netns/" + l.name[role])
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { f.Close() })
	return int(f.Fd())
}

// In runs f on a thread moved into role's namespace, so that the sockets
// f opens live there; the thread goes back before other goroutines get it.
func (l *Lab) In(role string, f func() error) error {
	runtime.LockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer self.Close()
	target, err := os.Open("/run/netns/" + l.name[role])
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns %s: %w", role, err)
	}
	defer func() {
		// A thread that cannot go back ends with its goroutine.
		if unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return f()
}

// SYN sends one TCP SYN from role to dst and returns its port: the
// socket does not wait for an answer a dropped flow never gets.
func (l *Lab) SYN(role string, dst netip.AddrPort) (uint16, error) {
	var port uint16
	err := l.In(role, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.Connect(fd, &unix.SockaddrInet4{Port: int(dst.Port()), Addr: dst.Addr().As4()}); !errors.Is(err, unix.EINPROGRESS) {
			return fmt.Errorf("connect %v: %w", dst, err)
		}
		sa, err := unix.Getsockname(fd)
		if err != nil {
			return err
		}
		port = uint16(sa.(*unix.SockaddrInet4).Port)
		return nil
	})
	return port, err
}

// Connect opens and closes a TCP connection from role to dst.
func (l *Lab) Connect(role, dst string) (netip.AddrPort, error) {
	var local netip.AddrPort
	err := l.In(role, func() error {
		c, err := net.DialTimeout("tcp", dst, 10*time.Second)
		if err != nil {
			return err
		}
		local = c.LocalAddr().(*net.TCPAddr).AddrPort()
		return c.Close()
	})
	return local, err
}
