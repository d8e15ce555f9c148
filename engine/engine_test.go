package engine

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dnsward/dnsward/config"
	"github.com/dnsward/dnsward/resolver"
	"github.com/dnsward/dnsward/testserver"
	"github.com/miekg/dns"
)

// logBuffer is the engine's log, read by the test while the engine writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// running is an engine serving on 127.0.0.1 with its configuration in file.
type running struct {
	e     *Engine
	file  string
	addr  string
	log   *logBuffer
	stop  context.CancelFunc
	errc  chan error
	dir   string
	ts    *testserver.Server
	basis int // goroutines before the engine was built
}

// write replaces the configuration file: the test server as upstream, one
// local record, a query log file unless extra has a querylog section, and
// extra keys.
func (r *running) write(t *testing.T, record, extra string) {
	t.Helper()
	qlog := fmt.Sprintf("querylog:\n  file: %q\n", filepath.Join(r.dir, "queries.log"))
	if strings.Contains(extra, "querylog:") {
		qlog = ""
	}
	conf := fmt.Sprintf("listen: [\"127.0.0.1:0\"]\nupstreams: [%q]\n%slocal:\n  hosts_files: []\n  records: [%q]\n%s",
		r.ts.PlainUDP(), qlog, record, extra)
	if err := os.WriteFile(r.file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
}

// start builds and starts an engine from a configuration whose record for
// router.lan. is 192.168.1.1, with a metrics listener, and serves it.
func start(t *testing.T) *running {
	t.Helper()
	return startWith(t, "")
}

// startWith is start with extra configuration keys.
func startWith(t *testing.T, extra string) *running {
	t.Helper()
	dir := t.TempDir()
	r := &running{file: filepath.Join(dir, "dnsward.yaml"), log: new(logBuffer), dir: dir, ts: testserver.ForTest(t)}
	r.write(t, "router.lan. 300 IN A 192.168.1.1", extra)
	fs := flags(t, "--config", r.file)
	cfg, err := Load(fs)
	if err != nil {
		t.Fatal(err)
	}
	r.basis = runtime.NumGoroutine()
	logger := slog.New(slog.NewTextHandler(r.log, nil))
	if r.e, err = New(cfg, Options{Load: func() (*config.Config, error) { return Load(fs) }, Logger: logger}); err != nil {
		t.Fatal(err)
	}
	listeners, err := resolver.Listen(cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { listeners.Close() })
	metricsListener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { metricsListener.Close() })
	r.addr = listeners.UDP[0].LocalAddr().String()
	ctx, stop := context.WithCancel(context.Background())
	if err := r.e.Start(ctx, listeners, metricsListener); err != nil {
		stop()
		t.Fatal(err)
	}
	r.stop, r.errc = stop, make(chan error, 1)
	go func() { r.errc <- r.e.Serve(ctx) }()
	t.Cleanup(func() {
		if r.stop != nil {
			r.stop()
			<-r.errc
		}
	})
	return r
}

// answer asks for name's A record: the last address, or the rcode.
func (r *running) answer(t *testing.T, name string) string {
	t.Helper()
	resp, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), r.addr)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Answer) == 0 {
		return dns.RcodeToString[resp.Rcode]
	}
	return resp.Answer[len(resp.Answer)-1].(*dns.A).A.String()
}

// TestReload reloads a running engine: a changed record takes effect, a
// broken file is refused with its line and the running configuration
// stays, and a restart-only key changed is warned about.
func TestReload(t *testing.T) {
	r := start(t)
	if got := r.answer(t, "router.lan."); got != "192.168.1.1" {
		t.Fatalf("router.lan. before the edit: %s", got)
	}
	if got := r.answer(t, "mail.example.test."); got == "SERVFAIL" || r.ts.Queries("mail.example.test.") != 1 {
		t.Fatalf("mail.example.test.: %s, asked upstream %d times", got, r.ts.Queries("mail.example.test."))
	}

	r.write(t, "router.lan. 300 IN A 192.168.1.2", "")
	r.e.Reload(context.Background())
	if got := r.answer(t, "router.lan."); got != "192.168.1.2" {
		t.Errorf("router.lan. after the edit: %s\n%s", got, r.log)
	}
	if !strings.Contains(r.log.String(), "SIGHUP: configuration reloaded; cache emptied") {
		t.Errorf("no reload line in the log:\n%s", r.log)
	}

	r.write(t, "router.lan. 300 IN A 192.168.1.3", "cahce:\n  size: 10\n")
	r.e.Reload(context.Background())
	if got := r.answer(t, "router.lan."); got != "192.168.1.2" {
		t.Errorf("router.lan. after a broken edit: %s, want the running 192.168.1.2", got)
	}
	if want := r.file + ":8: cahce: unknown key"; !strings.Contains(r.log.String(), want) {
		t.Errorf("the log lacks %q:\n%s", want, r.log)
	}

	r.write(t, "router.lan. 300 IN A 192.168.1.4", "limits:\n  tcp_total: 7\n")
	r.e.Reload(context.Background())
	if got := r.answer(t, "router.lan."); got != "192.168.1.4" {
		t.Errorf("router.lan. after an edit with a restart-only key: %s", got)
	}
	if want := "SIGHUP: limits.tcp_total changed; it takes effect when dnsward restarts"; !strings.Contains(r.log.String(), want) {
		t.Errorf("the log lacks %q:\n%s", want, r.log)
	}
	if strings.Contains(r.log.String(), "SIGHUP: listen changed") {
		t.Errorf("listen reported changed:\n%s", r.log)
	}
}

// TestStopEndsEveryGoroutine stops an engine that answered and reloaded:
// Serve returns and every goroutine the engine started has ended.
func TestStopEndsEveryGoroutine(t *testing.T) {
	r := start(t)
	r.answer(t, "mail.example.test.")
	r.write(t, "router.lan. 300 IN A 192.168.1.2", "blocklists:\n  rules: [ads.example.test]\n")
	r.e.Reload(context.Background())
	if got := r.answer(t, "ads.example.test."); got != "NXDOMAIN" {
		t.Errorf("ads.example.test. after the reload: %s, want NXDOMAIN (blocked)", got)
	}
	// Reloads replace the background work, not add to it. The new
	// pipeline's goroutines start after Reload returns: the count is
	// taken once they have, or a loaded machine's late starters would
	// look like goroutines the next reloads left behind.
	running := settledGoroutines(t)
	for i := range 4 {
		r.write(t, fmt.Sprintf("router.lan. 300 IN A 192.168.1.%d", 3+i), fmt.Sprintf("blocklists:\n  rules: [ads%d.example.test]\n", i))
		r.e.Reload(context.Background())
	}
	waitGoroutines(t, running)
	r.stop()
	if err := <-r.errc; err != nil {
		t.Fatal(err)
	}
	r.stop = nil
	if !strings.Contains(r.log.String(), "msg=stopped") {
		t.Errorf("no stopped line:\n%s", r.log)
	}
	waitGoroutines(t, r.basis)
	// A reload after the stop changes nothing and starts nothing.
	r.e.Reload(context.Background())
	if n := runtime.NumGoroutine(); n > r.basis {
		t.Errorf("%d goroutines after a reload of a stopped engine, %d before", n, r.basis)
	}
}

// settledGoroutines is the number of goroutines once it has held still
// for 50 polls a millisecond apart, within a deadline.
func settledGoroutines(t *testing.T) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	n, still := runtime.NumGoroutine(), 0
	for still < 50 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
		if m := runtime.NumGoroutine(); m != n {
			n, still = m, 0
		} else {
			still++
		}
	}
	return n
}

// waitGoroutines waits until at most n goroutines run; they end just after
// they signal it, so it polls, with a deadline.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
}

// Unless a dnstap sink needs the request, nothing holds a query past its
// answer, so the server reuses each request, with the query log off or
// writing a file, and the log's encoder reuses its buffers: a cache hit
// allocates nothing. A new request per query was 530 bytes at every hit,
// and at 70,000 hits a second a garbage collection every second or two.
func TestHitsReuseRequests(t *testing.T) {
	for _, tc := range []struct {
		name, querylog string
	}{
		{"log off", "querylog:\n  file: \"\"\n"},
		{"log to a file", "querylog:\n  file: %q\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := tc.querylog
			if strings.Contains(conf, "%q") {
				conf = fmt.Sprintf(conf, filepath.Join(t.TempDir(), "queries.log"))
			}
			r := startWith(t, conf+"rate_limit:\n  qps: 0\n")
			if got := r.answer(t, "mail.example.test."); got != "192.0.2.25" {
				t.Fatalf("mail.example.test.: %s", got)
			}
			conn, err := net.Dial("udp", r.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			pkt, err := new(dns.Msg).SetQuestion("mail.example.test.", dns.TypeA).Pack()
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 512)
			ask := func() {
				if err := conn.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
					t.Fatal(err)
				}
				if _, err := conn.Write(pkt); err != nil {
					t.Fatal(err)
				}
				if _, err := conn.Read(buf); err != nil {
					t.Fatal(err)
				}
			}
			// As many to warm up as are measured: the query log's queue
			// and buffers grow to what a drain holds at this rate.
			const n = 5000
			for range n {
				ask()
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range n {
				ask()
			}
			runtime.ReadMemStats(&after)
			// Allocations, not bytes: the log's queue and buffers may
			// still grow now and then, a few large allocations, where a
			// request kept would be one at every hit. Under -race,
			// sync.Pool drops a quarter of what it is given back, and a
			// hit makes 0.25.
			per := float64(after.Mallocs-before.Mallocs) / n
			t.Logf("%.3f allocations, %d bytes per cache hit", per, (after.TotalAlloc-before.TotalAlloc)/n)
			if per > 0.5 {
				t.Errorf("%.3f allocations per cache hit, want under 0.5", per)
			}
		})
	}
}
