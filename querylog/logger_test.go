package querylog

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// start runs a Logger; the returned stop ends Run and returns its error.
func start(tb testing.TB, cfg Config, log *slog.Logger) (*Logger, func() error) {
	tb.Helper()
	return startClocked(tb, cfg, log, systemClock{})
}

// run runs l; the returned stop ends Run and returns its error.
func run(tb testing.TB, l *Logger) func() error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
		})
		return runErr
	}
	tb.Cleanup(func() { stop() })
	return stop
}

// readRecords parses every line of files, failing on any line that does
// not parse: a split or interleaved line would.
func readRecords(tb testing.TB, files ...string) []Record {
	tb.Helper()
	var recs []Record
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			tb.Errorf("%s does not end with a newline", f)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, chunkSize)
		for n := 1; sc.Scan(); n++ {
			r, err := ParseLine(sc.Bytes())
			if err != nil {
				tb.Fatalf("%s:%d: %v", f, n, err)
			}
			recs = append(recs, r)
		}
	}
	return recs
}

// sharedEntry is query i of goroutine g: a unique name behind a CNAME chain
// and IPs shared with every other goroutine, so that only correct
// attribution tells the records apart.
func sharedEntry(g, i int) Entry {
	qname := fmt.Sprintf("h%d-%d.example.", g, i)
	hdr := func(name string, t uint16, ttl uint32) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	}
	m := new(dns.Msg)
	m.SetQuestion(qname, dns.TypeA)
	m.Answer = []dns.RR{
		&dns.CNAME{Hdr: hdr(qname, dns.TypeCNAME, 300), Target: "shared.cdn.example."},
		&dns.CNAME{Hdr: hdr("shared.cdn.example.", dns.TypeCNAME, 60), Target: "edge.cdn.example."},
		&dns.A{Hdr: hdr("edge.cdn.example.", dns.TypeA, 20), A: net.IPv4(192, 0, 2, 1)},
		&dns.A{Hdr: hdr("edge.cdn.example.", dns.TypeA, 20), A: net.IPv4(192, 0, 2, byte(2+g%3))},
	}
	return Entry{
		Time:     sharedTime(g, i),
		Proto:    "udp",
		Client:   sharedClient(g, i),
		Question: m.Question[0],
		Response: m,
		Source:   "upstream",
		Upstream: "9.9.9.9:53",
	}
}

func sharedClient(g, i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(g / 250), byte(g % 250), byte(i%250 + 1)}), uint16(1024+i))
}

func sharedTime(g, i int) time.Time {
	return t0.Add(time.Duration(g*100000+i) * time.Millisecond)
}

// checkShared verifies every record against what sharedEntry logged.
func checkShared(t *testing.T, recs []Record, goroutines, perG int) {
	t.Helper()
	type q struct {
		qid  string
		seen int
	}
	byName := map[string]*q{}
	qids := map[string]string{}
	for _, r := range recs {
		var g, i int
		if _, err := fmt.Sscanf(r.QName, "h%d-%d.example", &g, &i); err != nil {
			t.Fatalf("unexpected qname %q", r.QName)
		}
		client, when := sharedClient(g, i), sharedTime(g, i)
		if r.Client != client.Addr() || r.ClientPort != client.Port() || !r.Time.Equal(when) {
			t.Fatalf("record %+v attributed to %v at %v; want %v at %v", r, r.Client, r.Time, client, when)
		}
		chain := []string{r.QName, "shared.cdn.example", "edge.cdn.example"}
		var wantChain []string
		switch r.Name {
		case r.QName:
			wantChain = chain[:1]
		case "shared.cdn.example":
			wantChain = chain[:2]
		case "edge.cdn.example":
			wantChain = chain
		}
		if !slices.Equal(r.Chain, wantChain) {
			t.Fatalf("record %+v: chain %v, want %v", r, r.Chain, wantChain)
		}
		s := byName[r.QName]
		if s == nil {
			s = &q{qid: r.QID}
			byName[r.QName] = s
			if other, dup := qids[r.QID]; dup {
				t.Fatalf("qid %s shared by %s and %s", r.QID, other, r.QName)
			}
			qids[r.QID] = r.QName
		}
		if s.qid != r.QID {
			t.Fatalf("%s has qids %s and %s", r.QName, s.qid, r.QID)
		}
		s.seen++
	}
	if len(byName) != goroutines*perG {
		t.Fatalf("%d queries logged, %d found", goroutines*perG, len(byName))
	}
	for name, s := range byName {
		if s.seen != 4 {
			t.Fatalf("%s: %d records, want 4", name, s.seen)
		}
	}
}

// logShared logs perG sharedEntries from each of goroutines goroutines;
// during calls between each entry of goroutine 0.
func logShared(tb testing.TB, l *Logger, goroutines, perG int, during func(i int)) {
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				l.Log(sharedEntry(g, i))
				if g == 0 && during != nil {
					during(i)
				}
			}
		})
	}
	wg.Wait()
}

func TestConcurrentAttribution(t *testing.T) {
	t.Parallel()
	for _, format := range []string{FormatJSON, FormatKV} {
		t.Run(format, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "query.log")
			l, stop := start(t, Config{Format: format, File: path}, nil)
			logShared(t, l, 16, 500, nil)
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			checkShared(t, readRecords(t, path), 16, 500)
			st := l.Stats()
			if st.Dropped != 0 || st.Sinks[0].Written != 16*500*4 || st.Sinks[0].Dropped != 0 {
				t.Errorf("stats %+v", st)
			}
			info, err := os.Stat(path)
			if err != nil || info.Mode().Perm() != 0o640&^umask(t) {
				t.Errorf("log file mode %v, %v", info.Mode(), err)
			}
		})
	}
}

// umask reads the process umask, which the file mode is subject to.
func umask(t *testing.T) os.FileMode {
	f := filepath.Join(t.TempDir(), "probe")
	if err := os.WriteFile(f, nil, 0o777); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(f)
	if err != nil {
		t.Fatal(err)
	}
	return 0o777 &^ info.Mode().Perm()
}

func TestReopenAfterRename(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "query.log")
	l, stop := start(t, Config{File: path}, nil)
	renamed := []string{}
	logShared(t, l, 8, 1000, func(i int) {
		if i%200 != 199 {
			return
		}
		// What logrotate does: rename, then signal.
		old := fmt.Sprintf("%s.%d", path, len(renamed)+1)
		if err := os.Rename(path, old); err != nil {
			t.Error(err)
		}
		renamed = append(renamed, old)
		if err := l.Reopen(); err != nil {
			t.Error(err)
		}
	})
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(renamed) != 5 {
		t.Fatalf("renamed %d times", len(renamed))
	}
	checkShared(t, readRecords(t, append(renamed, path)...), 8, 1000)
	if err := l.Reopen(); err == nil {
		t.Error("Reopen after Run returned no error")
	}
}

// A file moved away without the signal that should follow is noticed:
// within a second the records go to a new file at the path.
func TestNoticesMovedFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "query.log")
	clk := newFakeClock()
	l, stop := startClocked(t, Config{File: path}, nil, clk)
	logShared(t, l, 1, 10, nil)
	waitFor(t, "the first records written", func() bool { return l.Stats().Sinks[0].Written == 40 })
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	clk.advance(movedCheck)
	logShared(t, l, 1, 10, nil)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if before, after := readRecords(t, path+".1"), readRecords(t, path); len(before) != 40 || len(after) != 40 {
		t.Errorf("records in the moved file and at the path: %d and %d, want 40 and 40", len(before), len(after))
	}
}

func TestSizeRotation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "query.log")
	const maxSize = 64 << 10
	l, stop := start(t, Config{File: path, MaxSize: maxSize, MaxBackups: 1000}, nil)
	logShared(t, l, 8, 500, nil)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	files, _ := filepath.Glob(path + ".*")
	if len(files) < 10 {
		t.Fatalf("only %d rotated files", len(files))
	}
	for _, f := range append(files, path) {
		info, err := os.Stat(f)
		if err != nil || info.Size() > maxSize {
			t.Errorf("%s: size %d > %d (%v)", f, info.Size(), maxSize, err)
		}
	}
	checkShared(t, readRecords(t, append(files, path)...), 8, 500)

	// Backups beyond MaxBackups are deleted, oldest first.
	path2 := filepath.Join(dir, "small.log")
	l2, stop2 := start(t, Config{File: path2, MaxSize: 4 << 10, MaxBackups: 2}, nil)
	logShared(t, l2, 1, 200, nil)
	stop2()
	files, _ = filepath.Glob(path2 + ".*")
	slices.Sort(files)
	if !slices.Equal(files, []string{path2 + ".1", path2 + ".2"}) {
		t.Errorf("backups %v", files)
	}
	recs := readRecords(t, path2+".2", path2+".1", path2)
	if len(recs) == 0 || recs[len(recs)-1].QName != "h0-199.example" {
		t.Errorf("newest record is not last")
	}
}

func TestAgeRotation(t *testing.T) {
	// A file found on disk keeps the age of its first record across a
	// restart: two hours old with a one-hour limit, it is rotated before
	// the first new record.
	dir := t.TempDir()
	path := filepath.Join(dir, "query.log")
	old := appendJSON(nil, &Record{V: Version, Time: time.Now().Add(-2 * time.Hour), QID: "old", Proto: "udp",
		Client: netip.MustParseAddr("192.0.2.1"), QName: "old.example", QType: "A", Rcode: "NOERROR", Source: "cache"})
	if err := os.WriteFile(path, old, 0o640); err != nil {
		t.Fatal(err)
	}
	l, stop := start(t, Config{File: path, MaxAge: time.Hour}, nil)
	logShared(t, l, 1, 10, nil)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if recs := readRecords(t, path+".1"); len(recs) != 1 || recs[0].QID != "old" {
		t.Errorf("rotated file holds %v, want the old record alone", recs)
	}
	checkShared(t, readRecords(t, path), 1, 10)

	// A file of its own: rotated once its first record is older than the
	// limit, between batches.
	path2 := filepath.Join(dir, "young.log")
	clk := newFakeClock()
	l2, stop2 := startClocked(t, Config{File: path2, MaxAge: 300 * time.Millisecond}, nil, clk)
	logShared(t, l2, 1, 10, nil)
	waitFor(t, "the first records written", func() bool { return l2.Stats().Sinks[0].Written == 40 })
	clk.advance(300 * time.Millisecond)
	l2.Log(sharedEntry(1, 0))
	if err := stop2(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if first, second := readRecords(t, path2+".1"), readRecords(t, path2); len(first) != 40 || len(second) != 4 {
		t.Errorf("records before and after the age limit: %d and %d, want 40 and 4 (4 per entry)", len(first), len(second))
	}
}

func TestQueueFullIsCounted(t *testing.T) {
	var logbuf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logbuf, nil))
	l, err := New(Config{File: filepath.Join(t.TempDir(), "q.log"), QueueSize: 4}, log)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		l.Log(sharedEntry(0, i)) // Run not started: nothing drains
	}
	if st := l.Stats(); st.Queued != 4 || st.Dropped != 6 {
		t.Fatalf("stats %+v; want 4 queued, 6 dropped", st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Queued != 0 || st.Sinks[0].Written != 16 {
		t.Errorf("after Run: %+v", st)
	}
	if !strings.Contains(logbuf.String(), "queue full") || !strings.Contains(logbuf.String(), "dropped=6") {
		t.Errorf("drop not reported: %s", logbuf.String())
	}
	if err := l.Run(context.Background()); err == nil {
		t.Error("second Run returned no error")
	}
}

func BenchmarkLogFile(b *testing.B) {
	e := entry(b, "10.0.0.5:51334", "www.shop.example", dns.TypeA, 0,
		"www.shop.example. 300 IN CNAME shop.cdn.example.",
		"shop.cdn.example. 20 IN A 192.0.2.1")
	e.Client = netip.MustParseAddrPort("10.0.0.5:51334")
	path := filepath.Join(b.TempDir(), "bench.log")
	// A queue as long as the run, so that the figure is the cost of
	// getting every record to the file, not of dropping.
	l, stop := start(b, Config{File: path, QueueSize: b.N + 1}, nil)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		l.Log(e)
	}
	if err := stop(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if st := l.Stats(); st.Dropped != 0 || st.Sinks[0].Written != uint64(2*b.N) {
		b.Fatalf("stats %+v", st)
	}
	info, _ := os.Stat(path)
	b.ReportMetric(float64(info.Size())/float64(2*b.N), "B/record")
}

// TestTornLastLine starts on a log file whose last line a crash cut short:
// the next record must start a line of its own, not be glued to it.
func TestTornLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.log")
	if err := os.WriteFile(path, []byte(`{"v":1,"ts":"2026-11-23T09:30`), 0o640); err != nil {
		t.Fatal(err)
	}
	l, stop := start(t, Config{File: path}, nil)
	l.Log(sharedEntry(0, 0))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	torn, recs, ok := strings.Cut(string(b), "\n")
	if !ok || torn != `{"v":1,"ts":"2026-11-23T09:30` || !strings.HasSuffix(recs, "\n") {
		t.Fatalf("file %q: want the torn line ended, then the records", b)
	}
	for line := range strings.Lines(recs) {
		if _, err := ParseLine([]byte(line)); err != nil {
			t.Errorf("record after the torn line: %v", err)
		}
	}
}

// TestNoSinkRunsAndStops: a logger without any sink queues nothing, and
// its Run still waits for the stop and returns.
func TestNoSinkRunsAndStops(t *testing.T) {
	l, err := New(Config{SpoolDir: t.TempDir()}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	l.Log(seqEntry(1))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Queued != 0 || st.Dropped != 0 {
		t.Errorf("stats %+v, want nothing queued or dropped", st)
	}
}
