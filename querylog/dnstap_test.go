package querylog

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	dnstap "github.com/dnstap/golang-dnstap"
	"github.com/miekg/dns"
	"google.golang.org/protobuf/proto"
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

// TestDnstapOutage stops the receiver mid-stream and brings it back:
// what was logged meanwhile is spooled and delivered, none lost.
func TestDnstapOutage(t *testing.T) {
	t.Parallel()
	const n = 30
	addr := filepath.Join(t.TempDir(), "tap.sock")
	capture := newCapture(t, "unix", addr)
	capture.start("unix", addr)
	log := newWatchedLog(t)
	cfg := Config{SpoolDir: t.TempDir(), Dnstap: []DnstapConfig{{Network: "unix", Address: addr}}}
	l, stop := start(t, cfg, log.Logger)
	for i := range n {
		l.Log(tapEntry(i))
	}
	waitFor(t, "first delivery", func() bool { return l.Stats().Sinks[0].Written == 2*n })
	capture.stop()
	first := capture.out
	for i := n; i < 2*n; i++ {
		l.Log(tapEntry(i))
	}
	waitFor(t, "the outage to be noticed", func() bool { return log.said("collector unavailable; spooling") })
	if st := l.Stats().Sinks[0]; st.Spooled == 0 {
		t.Fatalf("nothing spooled during the outage: %+v", st)
	}
	capture.start("unix", addr)
	waitFor(t, "delivery after the outage", func() bool { return l.Stats().Sinks[0].Written >= 4*n })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	capture.stop()
	out := dnstapRead(t, first, capture.out)
	checkTapped(t, out, 0, 2*n)
}

// TestDnstapFileResume appends to a dnstap file across restarts: it
// stays one stream that readers read to the end.
func TestDnstapFileResume(t *testing.T) {
	t.Parallel()
	needTools(t)
	file := filepath.Join(t.TempDir(), "tap.fstrm")
	cfg := Config{SpoolDir: t.TempDir(), Dnstap: []DnstapConfig{{Network: "file", Address: file}}}
	for run := range 3 {
		l, stop := start(t, cfg, testLog(t))
		for i := run * 5; i < run*5+5; i++ {
			l.Log(tapEntry(i))
		}
		waitFor(t, "writing", func() bool { return l.Stats().Sinks[0].Written == 10 })
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
	out := dnstapRead(t, file)
	checkTapped(t, out, 0, 15)
	if got := strings.Count(out, " CR "); got != 15 {
		t.Errorf("%d client responses, want 15:\n%s", got, out)
	}
}

// TestDnstapFileReopen: after logrotate renames the dnstap file, Reopen
// (SIGUSR1) ends it as a whole stream and the next records go to a new
// file at the path; readers read both to the end.
func TestDnstapFileReopen(t *testing.T) {
	needTools(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "tap.fstrm")
	cfg := Config{SpoolDir: t.TempDir(), Dnstap: []DnstapConfig{{Network: "file", Address: file}}}
	l, stop := start(t, cfg, testLog(t))
	for i := range 5 {
		l.Log(tapEntry(i))
	}
	waitFor(t, "writing", func() bool { return l.Stats().Sinks[0].Written == 10 })
	rotated := file + ".1"
	if err := os.Rename(file, rotated); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	for i := 5; i < 10; i++ {
		l.Log(tapEntry(i))
	}
	waitFor(t, "writing after the reopen", func() bool { return l.Stats().Sinks[0].Written == 20 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path     string
		from, to int
	}{{rotated, 0, 5}, {file, 5, 10}} {
		out := dnstapRead(t, f.path)
		checkTapped(t, out, f.from, f.to)
		if got := strings.Count(out, " CR "); got != 5 {
			t.Errorf("%s: %d client responses, want 5:\n%s", f.path, got, out)
		}
	}
}

// TestDnstapFileNotDnstap refuses to append to a file that is not a
// dnstap Frame Streams file, at start.
func TestDnstapFileNotDnstap(t *testing.T) {
	file := filepath.Join(t.TempDir(), "query.log")
	if err := os.WriteFile(file, []byte(`{"v":1}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{SpoolDir: t.TempDir(), Dnstap: []DnstapConfig{{Network: "file", Address: file}}}
	_, err := New(cfg, nil)
	if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "not a protobuf:dnstap.Dnstap Frame Streams file") {
		t.Fatalf("New = %v, want an error naming %s", err, file)
	}
	if b, _ := os.ReadFile(file); string(b) != `{"v":1}`+"\n" {
		t.Errorf("file changed: %q", b)
	}
}

// decodeTap decodes the dnstap messages of spool lines.
func decodeTap(t *testing.T, spool []byte) []*dnstap.Message {
	t.Helper()
	var msgs []*dnstap.Message
	for _, line := range splitLines(nil, spool) {
		_, payload := cutSpoolLine(line)
		pb, err := base64.StdEncoding.DecodeString(string(payload))
		if err != nil {
			t.Fatal(err)
		}
		var d dnstap.Dnstap
		if err := proto.Unmarshal(pb, &d); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, d.Message)
	}
	return msgs
}

func unpack(t *testing.T, wire []byte) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	if err := m.Unpack(wire); err != nil {
		t.Fatal(err)
	}
	return m
}

func tapTime(sec *uint64, nsec *uint32) time.Time {
	return time.Unix(int64(*sec), int64(*nsec))
}

// TestDnstapClientMessages checks every field of the client messages: the
// query as received or rebuilt, a cached response as the client saw it.
func TestDnstapClientMessages(t *testing.T) {
	withReq := tapEntry(1)
	withReq.Request.Id = 7 // the response of a cache hit keeps the id it was stored with
	withReq.Request.SetEdns0(1232, true)
	withReq.Age = 50
	rebuilt := tapEntry(2)
	unanswered := tapEntry(4)
	unanswered.Response, unanswered.Rcode = nil, dns.RcodeServerFailure
	for _, tc := range []struct {
		name    string
		e       Entry
		family  dnstap.SocketFamily
		proto   dnstap.SocketProtocol
		id      uint16
		ttl     uint32
		answers bool
	}{
		{"request in entry, cached", withReq, dnstap.SocketFamily_INET6, dnstap.SocketProtocol_UDP, 7, 10, true},
		{"query rebuilt", rebuilt, dnstap.SocketFamily_INET, dnstap.SocketProtocol_TCP, 1002, 60, true},
		{"no response", unanswered, dnstap.SocketFamily_INET, dnstap.SocketProtocol_TCP, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, n := appendTapEntry(nil, &tc.e)
			msgs := decodeTap(t, b)
			if want := map[bool]int{true: 2, false: 1}[tc.answers]; n != want || len(msgs) != want {
				t.Fatalf("%d lines, %d messages; want %d", n, len(msgs), want)
			}
			for i, m := range msgs {
				want := []dnstap.Message_Type{dnstap.Message_CLIENT_QUERY, dnstap.Message_CLIENT_RESPONSE}[i]
				if m.GetType() != want || m.GetSocketFamily() != tc.family || m.GetSocketProtocol() != tc.proto {
					t.Errorf("message %d: %v %v %v", i, m.GetType(), m.GetSocketFamily(), m.GetSocketProtocol())
				}
				addr, _ := netip.AddrFromSlice(m.QueryAddress)
				if addr != tc.e.Client.Addr() || m.GetQueryPort() != uint32(tc.e.Client.Port()) {
					t.Errorf("message %d: client %v:%d, want %v", i, addr, m.GetQueryPort(), tc.e.Client)
				}
				if !tapTime(m.QueryTimeSec, m.QueryTimeNsec).Equal(tc.e.Time) {
					t.Errorf("message %d: query time %v, want %v", i, tapTime(m.QueryTimeSec, m.QueryTimeNsec), tc.e.Time)
				}
			}
			q := unpack(t, msgs[0].QueryMessage)
			if q.Question[0] != tc.e.Question || tc.e.Request != nil && q.IsEdns0() == nil {
				t.Errorf("query %v, want the question %v and the request's EDNS", q, tc.e.Question)
			}
			if !tc.answers {
				return
			}
			r := unpack(t, msgs[1].ResponseMessage)
			if q.Id != tc.id || r.Id != tc.id || len(r.Answer) != 1 || r.Answer[0].Header().Ttl != tc.ttl {
				t.Errorf("ids %d/%d, answer %v; want id %d, TTL %d", q.Id, r.Id, r.Answer, tc.id, tc.ttl)
			}
			if got := tapTime(msgs[1].ResponseTimeSec, msgs[1].ResponseTimeNsec); !got.Equal(tc.e.Time.Add(tc.e.Latency)) {
				t.Errorf("response time %v, want %v", got, tc.e.Time.Add(tc.e.Latency))
			}
			if tc.e.Response.Answer[0].Header().Ttl != 60 {
				t.Error("the entry's (shared) response was changed")
			}
		})
	}
}

// TestDnstapForwarderMessages checks the upstream exchange encoding.
func TestDnstapForwarderMessages(t *testing.T) {
	query := new(dns.Msg)
	query.SetQuestion("fwd.example.", dns.TypeAAAA)
	query.Id = 4242
	resp := new(dns.Msg)
	resp.SetReply(query)
	resp.Answer = []dns.RR{&dns.AAAA{Hdr: dns.RR_Header{Name: "fwd.example.", Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: 300}, AAAA: net.ParseIP("2001:db8::53")}}
	sent := t0.Add(time.Second)
	x := Exchange{
		Upstream: netip.MustParseAddrPort("[::1]:5353"), Proto: "udp",
		Query: query, Response: resp, QueryTime: sent, ResponseTime: sent.Add(3 * time.Millisecond),
	}
	b, n := appendTapExchange(nil, &x)
	msgs := decodeTap(t, b)
	if n != 2 || len(msgs) != 2 {
		t.Fatalf("%d lines, %d messages; want 2", n, len(msgs))
	}
	for i, m := range msgs {
		want := []dnstap.Message_Type{dnstap.Message_FORWARDER_QUERY, dnstap.Message_FORWARDER_RESPONSE}[i]
		addr, _ := netip.AddrFromSlice(m.ResponseAddress)
		if m.GetType() != want || m.GetSocketFamily() != dnstap.SocketFamily_INET6 || m.GetSocketProtocol() != dnstap.SocketProtocol_UDP ||
			netip.AddrPortFrom(addr, uint16(m.GetResponsePort())) != x.Upstream || m.QueryAddress != nil {
			t.Errorf("message %d: %v", i, m)
		}
		if !tapTime(m.QueryTimeSec, m.QueryTimeNsec).Equal(x.QueryTime) {
			t.Errorf("message %d: query time %v", i, tapTime(m.QueryTimeSec, m.QueryTimeNsec))
		}
	}
	if q := unpack(t, msgs[0].QueryMessage); q.Id != 4242 || q.Question[0].Name != "fwd.example." {
		t.Errorf("query %v", q)
	}
	if r := unpack(t, msgs[1].ResponseMessage); len(r.Answer) != 1 || r.Answer[0].String() != resp.Answer[0].String() {
		t.Errorf("response %v", r)
	}
	if got := tapTime(msgs[1].ResponseTimeSec, msgs[1].ResponseTimeNsec); !got.Equal(x.ResponseTime) {
		t.Errorf("response time %v", got)
	}
	x.Response = nil
	if _, n := appendTapExchange(nil, &x); n != 1 {
		t.Errorf("unanswered exchange: %d lines, want 1", n)
	}
}

// TestDnstapLogExchange sends upstream exchanges through the logger to a
// dnstap file and has dnstap-read decode them.
func TestDnstapLogExchange(t *testing.T) {
	t.Parallel()
	needTools(t)
	file := filepath.Join(t.TempDir(), "tap.fstrm")
	cfg := Config{SpoolDir: t.TempDir(), Dnstap: []DnstapConfig{{Network: "file", Address: file}}}
	l, stop := start(t, cfg, testLog(t))
	for i := range 3 {
		e := tapEntry(i)
		q := new(dns.Msg)
		q.SetQuestion(e.Question.Name, dns.TypeA)
		l.LogExchange(Exchange{
			Upstream: netip.MustParseAddrPort("127.0.0.53:53"), Proto: "udp",
			Query: q, Response: e.Response, QueryTime: e.Time, ResponseTime: e.Time.Add(time.Millisecond),
		})
	}
	waitFor(t, "writing", func() bool { return l.Stats().Sinks[0].Written == 6 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	out := dnstapRead(t, file)
	for i := range 3 {
		fq := regexp.MustCompile(fmt.Sprintf(`FQ \? -> 127\.0\.0\.53:53 UDP \d+b q%d\.example/IN/A\n`, i))
		fr := regexp.MustCompile(fmt.Sprintf(`FR \? <- 127\.0\.0\.53:53 UDP \d+b q%d\.example/IN/A\n`, i))
		if !fq.MatchString(out) || !fr.MatchString(out) {
			t.Fatalf("dnstap-read output lacks exchange %d:\n%s", i, out)
		}
	}
}

// TestDnstapShutdownFinish stops the logger right after logging: the
// last frames are confirmed by the receiver's FINISH (answering STOP), so
// they count as delivered and are not replayed on the next start.
func TestDnstapShutdownFinish(t *testing.T) {
	const n = 10
	addr := filepath.Join(t.TempDir(), "tap.sock")
	capture := newCapture(t, "unix", addr)
	capture.start("unix", addr)
	cfg := Config{SpoolDir: t.TempDir(), Dnstap: []DnstapConfig{{Network: "unix", Address: addr}}}
	l, stop := start(t, cfg, testLog(t))
	for i := range n {
		l.Log(tapEntry(i))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats().Sinks[0]; st.Written != 2*n || st.Spooled != 0 {
		t.Errorf("after stop: %+v, want %d written and nothing spooled", st, 2*n)
	}
	capture.stop()
	checkTapped(t, dnstapRead(t, capture.out), 0, n)
}
