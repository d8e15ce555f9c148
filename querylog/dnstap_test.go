package querylog

import (
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// tapEntry is client query i: odd ones from IPv6 over udp with the
// request in the entry, even ones from IPv4 over tcp with the query
// rebuilt from the question.
func tapEntry(i int) Entry {
	e := seqEntry(i)
	e.Response.Id = uint16(1000 + i)
	e.Latency = time.Millisecond
	if i%2 == 1 {
		e.Proto = "udp"
		e.Client = netip.AddrPortFrom(netip.MustParseAddr(fmt.Sprintf("2001:db8::%x", i)), uint16(40000+i))
		e.Request = new(dns.Msg)
		e.Request.SetQuestion(e.Question.Name, dns.TypeA)
		e.Request.Id = e.Response.Id
	} else {
		e.Client = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), uint16(40000+i))
	}
	return e
}

// tapLines matches what dnstap-read prints for the CLIENT_RESPONSE (CR)
// of tapEntry(i), with its client, protocol and name, and its answer.
func tapLines(i int) (resp, answer *regexp.Regexp) {
	e := tapEntry(i)
	return regexp.MustCompile(fmt.Sprintf(`CR %s <- \? %s \d+b q%d\.example/IN/A\n`,
			regexp.QuoteMeta(fmt.Sprintf("%s:%d", e.Client.Addr(), e.Client.Port())), strings.ToUpper(e.Proto), i)),
		regexp.MustCompile(fmt.Sprintf(`\nq%d\.example\.\s+60\s+IN\s+A\s+192\.0\.2\.%d\n`, i, i))
}

// fstrmCapture is the Frame Streams reference receiver, run by the test.
type fstrmCapture struct {
	t    *testing.T
	args []string
	cmd  *exec.Cmd
	out  string
	runs int
}

func needTools(t *testing.T) {
	for _, tool := range []string{"fstrm_capture", "dnstap-read"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipped: %s not installed", tool)
		}
	}
}

// newCapture returns a receiver on a Unix socket (addr a path) or on TCP
// (addr host:port), writing a new file each time it starts.
func newCapture(t *testing.T, network, addr string) *fstrmCapture {
	needTools(t)
	c := &fstrmCapture{t: t, args: []string{"-t", dnstapContentType}}
	if network == "unix" {
		c.args = append(c.args, "-u", addr)
	} else {
		host, port, _ := net.SplitHostPort(addr)
		c.args = append(c.args, "-a", host, "-p", port)
	}
	t.Cleanup(c.stop)
	return c
}

func (c *fstrmCapture) start(network, addr string) {
	c.t.Helper()
	c.runs++
	c.out = filepath.Join(c.t.TempDir(), fmt.Sprintf("capture%d.fstrm", c.runs))
	c.cmd = exec.Command("fstrm_capture", append(c.args, "-w", c.out)...)
	c.cmd.Stderr = tWriter{c.t}
	if err := c.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	waitFor(c.t, "fstrm_capture to listen", func() bool {
		conn, err := net.Dial(network, addr)
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
}

// stop ends the capture as an operator would, so it closes its file.
func (c *fstrmCapture) stop() {
	if c.cmd == nil {
		return
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	c.cmd.Wait()
	c.cmd = nil
}

// dnstapRead decodes Frame Streams files with BIND's dnstap-read.
func dnstapRead(t *testing.T, files ...string) string {
	t.Helper()
	var all strings.Builder
	for _, f := range files {
		out, err := exec.Command("dnstap-read", "-p", f).CombinedOutput()
		if err != nil {
			t.Fatalf("dnstap-read %s: %v\n%s", f, err, out)
		}
		all.Write(out)
	}
	return all.String()
}

// checkTapped fails unless out holds the client response of every query
// in [from, to) with its client address, name and answer.
func checkTapped(t *testing.T, out string, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		resp, answer := tapLines(i)
		if !resp.MatchString(out) || !answer.MatchString(out) {
			t.Fatalf("dnstap-read output lacks query %d (%q, %q):\n%s", i, resp, answer, out)
		}
	}
}

func freeTCPAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestDnstapReaders sends client exchanges to fstrm_capture over a Unix
// socket and over TCP, and to a file, and checks what BIND's dnstap-read
// makes of them.
func TestDnstapReaders(t *testing.T) {
	needTools(t)
	const n = 20
	for _, network := range []string{"unix", "tcp", "file"} {
		t.Run(network, func(t *testing.T) {
			var addr string
			var capture *fstrmCapture
			switch network {
			case "unix":
				addr = filepath.Join(t.TempDir(), "tap.sock")
			case "tcp":
				addr = freeTCPAddr(t)
			case "file":
				addr = filepath.Join(t.TempDir(), "tap.fstrm")
			}
			if network != "file" {
				capture = newCapture(t, network, addr)
				capture.start(network, addr)
			}
			cfg := Config{SpoolDir: t.TempDir(), Dnstap: []DnstapConfig{{Network: network, Address: addr, Identity: "ns1.test", Version: "dnsward-test"}}}
			l, stop := start(t, cfg, testLog(t))
			for i := range n {
				l.Log(tapEntry(i))
			}
			waitFor(t, "delivery", func() bool { return l.Stats().Sinks[0].Written == 2*n })
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			file := addr
			if capture != nil {
				capture.stop()
				file = capture.out
			}
			out := dnstapRead(t, file)
			t.Logf("dnstap-read:\n%s", out)
			checkTapped(t, out, 0, n)
			if got := strings.Count(out, "CQ "); got != n {
				t.Errorf("%d client queries, want %d", got, n)
			}
			yaml, err := exec.Command("dnstap-read", "-y", file).CombinedOutput()
			if err != nil {
				t.Fatalf("dnstap-read -y: %v\n%s", err, yaml)
			}
			for _, want := range []string{"identity: ns1.test", "version: dnsward-test"} {
				if !strings.Contains(string(yaml), want) {
					t.Errorf("dnstap-read -y lacks %q", want)
				}
			}
		})
	}
}
