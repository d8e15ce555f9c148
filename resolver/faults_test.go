package resolver_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dnsward/dnsward/querylog"
	"github.com/dnsward/dnsward/resolver"
	"github.com/dnsward/dnsward/testserver"
	"github.com/dnsward/dnsward/upstream"
	"github.com/miekg/dns"
)

// fault is one way an upstream misbehaves.
type fault func(query []byte, tcp bool) []byte

var faults = map[string]fault{
	"drops": func([]byte, bool) []byte { return nil },
	"delays past the deadline": func(q []byte, tcp bool) []byte {
		time.Sleep(3 * time.Second)
		return reply(q, func(*dns.Msg) {})
	},
	"sends garbage": func([]byte, bool) []byte { return []byte("\x13\x37 this is not DNS at all, not even close") },
	"answers another id": func(q []byte, _ bool) []byte {
		return reply(q, func(m *dns.Msg) { m.Id++ })
	},
	"answers another question": func(q []byte, _ bool) []byte {
		return reply(q, func(m *dns.Msg) { m.Question[0].Name = "elsewhere.test." })
	},
	"truncates, then cuts TCP mid-message": func(q []byte, tcp bool) []byte {
		if tcp {
			return []byte{0x01, 0x00, 0xde, 0xad} // promises 256 bytes, sends 2
		}
		return reply(q, func(m *dns.Msg) { m.Truncated = true })
	},
}

func reply(q []byte, tamper func(*dns.Msg)) []byte {
	var m dns.Msg
	if m.Unpack(q) != nil || len(m.Question) == 0 {
		return nil
	}
	r := new(dns.Msg).SetReply(&m)
	r.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: m.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 13)}}
	tamper(r)
	out, _ := r.Pack()
	return out
}

// faultyUpstream serves f over UDP and TCP on one loopback port.
func faultyUpstream(t *testing.T, f fault) string {
	t.Helper()
	// Bound as dnsward binds: a port free for UDP may be taken for TCP,
	// and Listen then tries another.
	ls, err := resolver.Listen([]string{"127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	pc, l := ls.UDP[0], ls.TCP[0]
	var wg sync.WaitGroup
	t.Cleanup(func() { pc.Close(); l.Close(); wg.Wait() })
	wg.Go(func() {
		buf := make([]byte, 65535)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := append([]byte(nil), buf[:n]...)
			wg.Go(func() {
				if out := f(q, false); out != nil {
					pc.WriteTo(out, addr)
				}
			})
		}
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				var size [2]byte
				if _, err := io.ReadFull(c, size[:]); err != nil {
					return
				}
				q := make([]byte, binary.BigEndian.Uint16(size[:]))
				if _, err := io.ReadFull(c, q); err != nil {
					return
				}
				out := f(q, true)
				if len(out) > 4 {
					out = binary.BigEndian.AppendUint16(nil, uint16(len(out))) // framed, as a server should
					out = append(out, f(q, true)...)
				}
				c.Write(out)
			})
		}
	})
	return pc.LocalAddr().String()
}

// TestUpstreamFaults sends names under fault.test. to a misbehaving
// upstream while other clients use a good one: they are all answered, the
// faulty ones with SERVFAIL at worst, and every query has its log record.
func TestUpstreamFaults(t *testing.T) {
	good := testserver.ForTest(t)
	for name, f := range faults {
		t.Run(name, func(t *testing.T) {
			bad := faultyUpstream(t, f)
			logFile := filepath.Join(t.TempDir(), "queries.log")
			qlog, err := querylog.New(querylog.Config{File: logFile}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			logDone := make(chan error, 1)
			go func() { logDone <- qlog.Run(ctx) }()
			e := startEnv(t, envOptions{
				upstreams: []string{good.Stamp},
				tune: func(c *resolver.Config) {
					c.ForwardZones = map[string][]upstream.Upstream{"fault.test": parseUpstreams(t, "udp://"+bad)}
				},
				done: func(q *resolver.Query, resp *dns.Msg) { q.Keep(); qlog.Log(q.LogEntry(resp)) },
			})
			var wg sync.WaitGroup
			var asked []string
			for i := range 30 {
				names := []string{fmt.Sprintf("g%d.gen.test.", i)}
				if i%3 == 0 {
					names = append(names, fmt.Sprintf("x%d.fault.test.", i))
				}
				asked = append(asked, names...)
				for _, n := range names {
					wg.Go(func() {
						r, err := e.exchange("udp", n, dns.TypeA, false)
						if err != nil {
							t.Error(err)
							return
						}
						goodName := strings.HasSuffix(n, ".gen.test.")
						if goodName && (r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1) {
							t.Errorf("%s through the good upstream: %s %v", n, dns.RcodeToString[r.Rcode], r.Answer)
						}
						if !goodName && r.Rcode != dns.RcodeServerFailure {
							t.Errorf("%s through the faulty upstream: %s %v, want SERVFAIL", n, dns.RcodeToString[r.Rcode], r.Answer)
						}
					})
				}
			}
			wg.Wait()
			cancel()
			if err := <-logDone; err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(logFile)
			if err != nil {
				t.Fatal(err)
			}
			logged := map[string]int{}
			sc := bufio.NewScanner(bytes.NewReader(data))
			for sc.Scan() {
				r, err := querylog.ParseLine(sc.Bytes())
				if err != nil {
					t.Fatalf("bad log line %q: %v", sc.Text(), err)
				}
				logged[r.QName]++
			}
			for _, n := range asked {
				if logged[strings.TrimSuffix(n, ".")] != 1 {
					t.Errorf("%s: %d log records, want 1", n, logged[strings.TrimSuffix(n, ".")])
				}
			}
		})
	}
}

// The id of a query sent upstream is what stops a blind spoofer, so it
// must change from query to query.
func TestUpstreamQueryIDsVary(t *testing.T) {
	var mu sync.Mutex
	ids := map[uint16]bool{}
	addr := faultyUpstream(t, func(q []byte, _ bool) []byte {
		mu.Lock()
		ids[binary.BigEndian.Uint16(q)] = true
		mu.Unlock()
		return reply(q, func(*dns.Msg) {})
	})
	e := startEnv(t, envOptions{upstreams: []string{"udp://" + addr}})
	for i := range 50 {
		e.ask(t, "udp", fmt.Sprintf("n%d.example.test.", i), dns.TypeA, false)
	}
	mu.Lock()
	defer mu.Unlock()
	// Random 16-bit ids: 50 queries share one only rarely, five never.
	if len(ids) < 45 {
		t.Fatalf("%d distinct ids in 50 upstream queries", len(ids))
	}
}

// TestOutageLogsOnce checks that an upstream that refuses every query
// (a closed port) gets one line saying it fails and one "query failed"
// line for many failed queries, each of which still gets its SERVFAIL.
func TestOutageLogsOnce(t *testing.T) {
	closed, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := closed.LocalAddr().String()
	closed.Close()
	// A file, not a buffer: the handler serialises its writes, and the
	// group's prober may still write while the test reads.
	logs, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	e := startEnv(t, envOptions{upstreams: []string{"udp://" + addr}, logger: slog.New(slog.NewTextHandler(logs, nil))})
	const queries = 10
	for i := range queries {
		if r := e.ask(t, "udp", fmt.Sprintf("q%d.example.test.", i), dns.TypeA, false); r.Rcode != dns.RcodeServerFailure {
			t.Fatalf("query %d: %s, want SERVFAIL", i, dns.RcodeToString[r.Rcode])
		}
		// The journal is sampled, so each query's own record says why.
		if q := e.lastSource(t); q.Source.String() != "upstream" || q.Err == nil || !strings.Contains(q.Err.Error(), addr) {
			t.Errorf("query %d: source %q, err %v: want the upstream and its failure", i, q.Source, q.Err)
		}
	}
	b, err := os.ReadFile(logs.Name())
	if err != nil {
		t.Fatal(err)
	}
	out := string(b)
	if n := strings.Count(out, `msg="query failed"`); n != 1 {
		t.Errorf("%d query failed lines for %d failed queries, want 1:\n%s", n, queries, out)
	}
	if n := strings.Count(out, `msg="upstream failing`); n != 1 {
		t.Errorf("%d upstream failing lines, want 1:\n%s", n, out)
	}
}
