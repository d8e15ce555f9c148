package querylog

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// receiver is a collector on 127.0.0.1 that can be killed and brought back
// on the same address.
type receiver interface {
	start()
	stop()
	received() []Record
}

// records is the receivers' shared, locked record list.
type records struct {
	mu   sync.Mutex
	recs []Record
}

func (r *records) add(recs ...Record) {
	r.mu.Lock()
	r.recs = append(r.recs, recs...)
	r.mu.Unlock()
}

func (r *records) received() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Record(nil), r.recs...)
}

// syslogReceiver parses RFC 5424 over udp, or octet-counted over tcp/tls.
type syslogReceiver struct {
	records
	t       *testing.T
	network string
	tls     *tls.Config
	addr    string

	mu    sync.Mutex
	ln    net.Listener
	pc    net.PacketConn
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func newSyslogReceiver(t *testing.T, network string, conf *tls.Config) *syslogReceiver {
	r := &syslogReceiver{t: t, network: network, tls: conf, addr: "127.0.0.1:0"}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *syslogReceiver) start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	var err error
	if r.network == "udp" {
		if r.pc, err = net.ListenPacket("udp", r.addr); err != nil {
			r.t.Fatal(err)
		}
		r.addr = r.pc.LocalAddr().String()
		pc := r.pc // stop clears r.pc
		r.wg.Go(func() { r.readPackets(pc) })
		return
	}
	if r.ln, err = net.Listen("tcp", r.addr); err != nil {
		r.t.Fatal(err)
	}
	if r.tls != nil {
		r.ln = tls.NewListener(r.ln, r.tls)
	}
	r.addr = r.ln.Addr().String()
	r.conns = map[net.Conn]bool{}
	ln := r.ln
	r.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.conns[c] = true
			r.mu.Unlock()
			r.wg.Go(func() { r.readStream(c) })
		}
	})
}

// stop kills the receiver the hard way: whatever it has not read is lost.
func (r *syslogReceiver) stop() {
	r.mu.Lock()
	if r.pc != nil {
		r.pc.Close()
		r.pc = nil
	}
	if r.ln != nil {
		r.ln.Close()
		r.ln = nil
	}
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

func (r *syslogReceiver) readPackets(pc net.PacketConn) {
	buf := make([]byte, 65536)
	for {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		r.message(buf[:n])
	}
}

// readStream closes the connection at EOF, as syslog servers do, which is
// what lets the sender confirm delivery at shutdown.
func (r *syslogReceiver) readStream(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		n, err := br.ReadString(' ')
		if err != nil {
			return
		}
		size, err := strconv.Atoi(strings.TrimSuffix(n, " "))
		if err != nil {
			r.t.Errorf("bad octet count %q", n)
			return
		}
		msg := make([]byte, size)
		if _, err := io.ReadFull(br, msg); err != nil {
			return
		}
		r.message(msg)
	}
}

func (r *syslogReceiver) message(msg []byte) {
	f := bytes.SplitN(msg, []byte(" "), 8)
	if len(f) != 8 || string(f[0]) != "<30>1" || string(f[2]) != "testhost" || string(f[3]) != "dnsward" || string(f[5]) != "query" || string(f[6]) != "-" {
		r.t.Errorf("malformed syslog message %q", msg)
		return
	}
	if _, err := time.Parse(time.RFC3339Nano, string(f[1])); err != nil {
		r.t.Errorf("syslog timestamp: %v", err)
	}
	rec, err := ParseLine(f[7])
	if err != nil {
		r.t.Errorf("syslog payload %q: %v", f[7], err)
		return
	}
	r.add(rec)
}

// hecReceiver is a minimal Splunk HEC endpoint.
type hecReceiver struct {
	records
	t    *testing.T
	addr string
	mu   sync.Mutex
	srv  *http.Server
	done chan struct{}
}

func newHECReceiver(t *testing.T) *hecReceiver {
	r := &hecReceiver{t: t, addr: "127.0.0.1:0"}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *hecReceiver) start() {
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(r.serve)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	r.mu.Lock()
	r.srv, r.done = srv, done
	r.mu.Unlock()
}

func (r *hecReceiver) stop() {
	r.mu.Lock()
	srv, done := r.srv, r.done
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		srv.Close()
		<-done
	}
}

func (r *hecReceiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != "/services/collector/event" || req.Header.Get("Authorization") != "Splunk s3cret" {
		r.t.Errorf("bad HEC request %s %s %q", req.Method, req.URL.Path, req.Header.Get("Authorization"))
		http.Error(w, `{"text":"Invalid token","code":4}`, http.StatusForbidden)
		return
	}
	var batch []Record
	dec := json.NewDecoder(req.Body)
	for {
		var ev struct {
			Time       float64
			Event      Record
			Sourcetype string
			Index      string
		}
		err := dec.Decode(&ev)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			http.Error(w, `{"text":"Invalid data format","code":6}`, http.StatusBadRequest)
			return
		}
		if ev.Sourcetype != "dnsward" || ev.Index != "dns" || ev.Time != float64(ev.Event.Time.UnixMicro())/1e6 {
			r.t.Errorf("HEC envelope %+v", ev)
		}
		batch = append(batch, ev.Event)
	}
	r.add(batch...)
	io.WriteString(w, `{"text":"Success","code":0}`)
}

// seqEntry is query i of a single-goroutine sequence, for order checks.
func seqEntry(i int) Entry {
	qname := fmt.Sprintf("q%d.example.", i)
	m := new(dns.Msg)
	m.SetQuestion(qname, dns.TypeA)
	m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: qname, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, byte(i))}}
	return Entry{
		Time: t0.Add(time.Duration(i) * time.Microsecond), Proto: "tcp",
		Client:   netip.AddrPortFrom(netip.MustParseAddr("10.0.0.7"), uint16(i)),
		Question: m.Question[0], Response: m, Source: "cache",
	}
}

// checkSeq verifies that recs hold q0…q(n-1), each attributed right, and
// that replays only repeat: the first sightings are in logging order.
func checkSeq(t *testing.T, recs []Record, n int) (dups int) {
	t.Helper()
	seen := map[int]bool{}
	next := 0
	for _, r := range recs {
		i, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(r.QName, "q"), ".example"))
		if err != nil || r.ClientPort != uint16(i) || r.Data != net.IPv4(192, 0, 2, byte(i)).String() {
			t.Fatalf("misattributed record %+v", r)
		}
		if seen[i] {
			dups++
			continue
		}
		if i != next {
			t.Fatalf("q%d arrived first when q%d was due", i, next)
		}
		seen[i] = true
		next++
	}
	if next != n {
		t.Fatalf("%d of %d records arrived", next, n)
	}
	return dups
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testCA makes a self-signed certificate for 127.0.0.1 and returns the
// server config and the path of the PEM to trust.
func testCA(t *testing.T) (*tls.Config, string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "dnsward test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, caFile
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// watchedLog is a program log, to the test's, that the test can ask what
// it said: the events a test waits for instead of sleeping.
type watchedLog struct {
	*slog.Logger
	buf *syncBuffer
}

func newWatchedLog(t *testing.T) watchedLog {
	buf := new(syncBuffer)
	return watchedLog{slog.New(slog.NewTextHandler(io.MultiWriter(tWriter{t}, buf), nil)), buf}
}

func (w watchedLog) said(msg string) bool { return strings.Contains(w.buf.String(), msg) }

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func syslogSink(network, addr, caFile string) SyslogConfig {
	return SyslogConfig{Network: network, Address: addr, CAFile: caFile, Hostname: "testhost"}
}

func hecSink(addr string) HECConfig {
	return HECConfig{URL: "http://" + addr, Token: "s3cret", Index: "dns", Sourcetype: "dnsward"}
}

// TestCollectorOutage kills each collector mid-stream and brings it back:
// every record must arrive, in order, duplicates allowed.
func TestCollectorOutage(t *testing.T) {
	serverTLS, caFile := testCA(t)
	tests := []struct {
		name  string
		setup func(t *testing.T, cfg *Config) receiver
	}{
		{"syslog tcp", func(t *testing.T, cfg *Config) receiver {
			r := newSyslogReceiver(t, "tcp", nil)
			cfg.Format = FormatKV
			cfg.Syslog = []SyslogConfig{syslogSink("tcp", r.addr, "")}
			return r
		}},
		{"syslog tls", func(t *testing.T, cfg *Config) receiver {
			r := newSyslogReceiver(t, "tcp", serverTLS)
			cfg.Syslog = []SyslogConfig{syslogSink("tls", r.addr, caFile)}
			return r
		}},
		{"hec", func(t *testing.T, cfg *Config) receiver {
			r := newHECReceiver(t)
			cfg.HEC = []HECConfig{hecSink(r.addr)}
			return r
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{SpoolDir: t.TempDir(), File: filepath.Join(t.TempDir(), "q.log")}
			r := tc.setup(t, &cfg)
			log := newWatchedLog(t)
			l, stop := start(t, cfg, log.Logger)
			const n = 3000
			logRange := func(from, to int) {
				for i := from; i < to; i++ {
					l.Log(seqEntry(i))
				}
			}
			logRange(0, n/3)
			waitFor(t, "first delivery", func() bool { return len(r.received()) > 0 })
			r.stop()
			logRange(n/3, 2*n/3)
			// Back only once the outage was seen, or it would not be tested.
			waitFor(t, "the outage noticed", func() bool { return log.said("collector unavailable") })
			r.start()
			logRange(2*n/3, n)
			waitFor(t, "all records", func() bool { return len(uniqueQIDs(r.received())) == n })
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			dups := checkSeq(t, r.received(), n)
			st := l.Stats()
			t.Logf("%d duplicates; stats %+v", dups, st)
			col := st.Sinks[1]
			if st.Dropped != 0 || col.Dropped != 0 || col.Spooled != 0 || col.Written < n {
				t.Errorf("collector stats %+v", col)
			}
			if file := st.Sinks[0]; file.Written != n {
				t.Errorf("file stats %+v", file)
			}
		})
	}
}

func uniqueQIDs(recs []Record) map[string]bool {
	m := map[string]bool{}
	for _, r := range recs {
		m[r.QID] = true
	}
	return m
}

// TestSyslogUDPOutage sends a lone datagram to a UDP collector whose port
// is closed. The host answers with ICMP port unreachable, which the
// connected socket reports only on a later read or write, and no later
// write comes: the check before commit, or at shutdown, must find it, so
// the record is replayed once the collector is back instead of counted
// delivered.
func TestSyslogUDPOutage(t *testing.T) {
	for _, shutdown := range []bool{false, true} {
		t.Run(fmt.Sprintf("shutdown=%v", shutdown), func(t *testing.T) {
			r := newSyslogReceiver(t, "udp", nil)
			r.stop()
			cfg := Config{SpoolDir: t.TempDir(), Syslog: []SyslogConfig{syslogSink("udp", r.addr, "")}}
			log := newWatchedLog(t)
			l, err := New(cfg, log.Logger)
			if err != nil {
				t.Fatal(err)
			}
			l.cols[0].settle = 100 * time.Millisecond // udpSettle is 5 s
			stop := run(t, l)
			l.Log(seqEntry(0))
			if shutdown {
				if err := stop(); err != nil {
					t.Fatal(err)
				}
				r.start()
				_, stop = start(t, cfg, testLog(t))
			} else {
				// The check before commit found the ICMP error; back
				// before that, the outage would go untested.
				waitFor(t, "the outage noticed", func() bool { return log.said("collector unavailable") })
				r.start()
			}
			waitFor(t, "the record after the outage", func() bool { return len(r.received()) > 0 })
			stop()
			checkSeq(t, r.received(), 1)
		})
	}
}

func TestSyslogUDP(t *testing.T) {
	t.Parallel()
	r := newSyslogReceiver(t, "udp", nil)
	l, stop := start(t, Config{SpoolDir: t.TempDir(), Syslog: []SyslogConfig{syslogSink("udp", r.addr, "")}}, testLog(t))
	const n = 100
	for i := range n {
		l.Log(seqEntry(i))
		if i%5 == 4 { // loopback UDP drops when flooded: a few in flight at a time
			waitFor(t, "the datagrams so far", func() bool { return len(r.received()) > i })
		}
	}
	stop()
	checkSeq(t, r.received(), n)
}

// TestSpoolAcrossRestart logs while the collector is unreachable, stops,
// and expects a new Logger on the same spool to deliver everything.
func TestSpoolAcrossRestart(t *testing.T) {
	r := newSyslogReceiver(t, "tcp", nil)
	r.stop()
	cfg := Config{SpoolDir: t.TempDir(), Syslog: []SyslogConfig{syslogSink("tcp", r.addr, "")}}
	l, stop := start(t, cfg, testLog(t))
	const n = 500
	for i := range n {
		l.Log(seqEntry(i))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats().Sinks[0]; st.Spooled == 0 || st.Written != 0 {
		t.Fatalf("nothing spooled: %+v", st)
	}
	r.start()
	_, stop2 := start(t, cfg, testLog(t))
	waitFor(t, "replay", func() bool { return len(uniqueQIDs(r.received())) == n })
	stop2()
	checkSeq(t, r.received(), n)
}

// TestSpoolFull fills a small spool while the collector is down: the
// overflow is dropped, counted, reported, and only the newest records lost.
func TestSpoolFull(t *testing.T) {
	h := newHECReceiver(t)
	h.stop()
	var logbuf syncBuffer
	cfg := Config{SpoolDir: t.TempDir(), SpoolMax: 16 << 10, HEC: []HECConfig{hecSink(h.addr)}}
	l, stop := start(t, cfg, slog.New(slog.NewTextHandler(&logbuf, nil)))
	const n = 500
	for i := range n {
		l.Log(seqEntry(i))
	}
	stop()
	st := l.Stats().Sinks[0]
	if st.Dropped == 0 || st.Spooled > 16<<10 || st.Spooled < 12<<10 {
		t.Fatalf("stats %+v", st)
	}
	if !strings.Contains(logbuf.String(), "records dropped") {
		t.Errorf("drops not reported: %s", logbuf.String())
	}
	h.start()
	_, stop2 := start(t, cfg, testLog(t))
	kept := n - int(st.Dropped)
	waitFor(t, "replay", func() bool { return len(uniqueQIDs(h.received())) == kept })
	stop2()
	checkSeq(t, h.received(), kept)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestShutdownFlush expects records logged just before Run's context ends
// to be delivered, and confirmed, by the time Run returns.
func TestShutdownFlush(t *testing.T) {
	t.Parallel()
	serverTLS, caFile := testCA(t)
	tests := []struct {
		name  string
		setup func(t *testing.T, cfg *Config) receiver
	}{
		{"syslog tcp", func(t *testing.T, cfg *Config) receiver {
			r := newSyslogReceiver(t, "tcp", nil)
			cfg.Syslog = []SyslogConfig{syslogSink("tcp", r.addr, "")}
			return r
		}},
		{"syslog tls", func(t *testing.T, cfg *Config) receiver {
			r := newSyslogReceiver(t, "tcp", serverTLS)
			cfg.Syslog = []SyslogConfig{syslogSink("tls", r.addr, caFile)}
			return r
		}},
		{"hec", func(t *testing.T, cfg *Config) receiver {
			r := newHECReceiver(t)
			cfg.HEC = []HECConfig{hecSink(r.addr)}
			return r
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{SpoolDir: t.TempDir()}
			r := tc.setup(t, &cfg)
			l, stop := start(t, cfg, testLog(t))
			const n = 1000
			for i := range n {
				l.Log(seqEntry(i))
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			checkSeq(t, r.received(), n)
			if st := l.Stats().Sinks[0]; st.Spooled != 0 || st.Written != n {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestHungCollector connects to a receiver that accepts and never reads:
// the file sink must not wait for it, and shutdown must not hang on it.
func TestHungCollector(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	path := filepath.Join(t.TempDir(), "q.log")
	cfg := Config{File: path, SpoolDir: t.TempDir(), Syslog: []SyslogConfig{syslogSink("tcp", ln.Addr().String(), "")}}
	l, stop := start(t, cfg, testLog(t))
	const n = 30000 // megabytes: more than the socket buffers hold
	for i := range n {
		l.Log(seqEntry(i))
		if i%1000 == 999 { // the file keeps pace while the collector hangs
			waitFor(t, "file sink", func() bool { return l.Stats().Sinks[0].Written > uint64(i) })
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	if st.Dropped != 0 || st.Sinks[1].Spooled == 0 || st.Sinks[1].Written == n {
		t.Errorf("stats %+v", st)
	}
	if len(readRecords(t, path)) != n {
		t.Error("file incomplete")
	}
}

// TestRecordsReachDiskWithinASecond logs one record while the collector is
// down and expects the log file and the spool both synced a second later
// on the logger's clock, not only at shutdown: what a power cut can take
// is bounded by syncEvery.
func TestRecordsReachDiskWithinASecond(t *testing.T) {
	r := newSyslogReceiver(t, "tcp", nil)
	r.stop()
	cfg := Config{File: filepath.Join(t.TempDir(), "q.log"), SpoolDir: t.TempDir(), Syslog: []SyslogConfig{syslogSink("tcp", r.addr, "")}}
	clk := newFakeClock()
	l, _ := startClocked(t, cfg, testLog(t), clk)
	unsynced := func() (file, spool bool) {
		l.file.mu.Lock()
		file = l.file.unsynced.dirty
		l.file.mu.Unlock()
		sp := l.cols[0].spool
		sp.mu.Lock()
		spool = sp.unsynced.dirty
		sp.mu.Unlock()
		return file, spool
	}
	l.Log(seqEntry(0))
	// Armed: the error report timer, and the sync the write set.
	waitFor(t, "the record written and its sync set", func() bool {
		st := l.Stats().Sinks
		return st[0].Written == 1 && st[1].Spooled > 0 && clk.armed() == 2
	})
	if file, spool := unsynced(); !file || !spool {
		t.Fatalf("unsynced file %v, spool %v: synced before the clock moved", file, spool)
	}
	if clk.advance(time.Second) == 0 {
		t.Fatal("no sync due a second after the write")
	}
	waitFor(t, "the file and the spool synced", func() bool {
		file, spool := unsynced()
		return !file && !spool
	})
}

// TestFlushInterval expects a queued entry written once FlushInterval has
// passed on the logger's clock, and at once with 0: entries still queued
// are what a kill -9 loses.
func TestFlushInterval(t *testing.T) {
	for _, flush := range []time.Duration{0, time.Millisecond, DefaultFlushInterval, 200 * time.Millisecond} {
		t.Run(flush.String(), func(t *testing.T) {
			clk := newFakeClock()
			path := filepath.Join(t.TempDir(), "q.log")
			l, stop := startClocked(t, Config{File: path, FlushInterval: flush}, nil, clk)
			l.Log(seqEntry(0))
			if flush > 0 {
				// Armed: the error report timer and the pause.
				waitFor(t, "the pause", func() bool { return clk.armed() == 2 })
				if w := l.Stats().Sinks[0].Written; w != 0 {
					t.Fatalf("%d records written before the interval passed", w)
				}
				if clk.advance(flush-1) != 0 || clk.advance(1) != 1 {
					t.Fatalf("the pause did not end exactly %v after the entry", flush)
				}
			}
			waitFor(t, "the record written", func() bool { return l.Stats().Sinks[0].Written == 1 })
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			checkSeq(t, readRecords(t, path), 1)
		})
	}
}
