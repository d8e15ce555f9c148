package querylog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/dnsward/dnsward/internal/swapq"
)

const (
	batchEntries = 256              // entries encoded per write
	reportEvery  = 10 * time.Second // drop and error reports, at most this often
	// syncEvery bounds what a host crash or power cut can take from the
	// file and the spools: records written this long ago are on disk. One
	// fsync a second per sink costs little even on an SD card; one per
	// batch would cost hundreds.
	syncEvery = time.Second
)

// Logger encodes entries off the query path and feeds the sinks.
type Logger struct {
	format  string
	log     *slog.Logger
	clock   clock
	flush   time.Duration       // Config.FlushInterval
	entries *swapq.Queue[Entry] // nil without a sink
	// spare is the slice the encoder hands the queue at its next take.
	spare []Entry
	// exchanges holds upstream exchanges for the dnstap sinks; nil
	// without one.
	exchanges chan Exchange
	prefix    string // random per process, so query ids are unique across restarts
	file      *fileSink
	cols      []*collector
	needFmt   [3]bool // spool payloads needed: json, kv, dnstap
	dropped   atomic.Uint64
	started   atomic.Bool
}

// Stats is a snapshot of the logger's counters.
type Stats struct {
	Queued  int         // entries (and upstream exchanges, for dnstap) waiting to be encoded
	Dropped uint64      // entries dropped because the queue was full
	Sinks   []SinkStats // the file first, then the collectors in config order
}

// SinkStats counts one sink's records.
type SinkStats struct {
	Name    string // "file", or the collector's name (also its spool directory)
	Written uint64 // records written to the file or delivered to the collector (dnstap: messages)
	Spooled int64  // bytes spooled and not yet delivered
	Dropped uint64 // records (dnstap: messages) lost to a full spool or a failing file
}

// New validates cfg and opens every sink, so that configuration and
// permission problems surface at start.
func New(cfg Config, logger *slog.Logger) (*Logger, error) {
	return newLogger(cfg, logger, systemClock{})
}

// newLogger is New on the given clock.
func newLogger(cfg Config, logger *slog.Logger, clk clock) (*Logger, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Format == "" {
		cfg.Format = FormatJSON
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.SpoolMax == 0 {
		cfg.SpoolMax = DefaultSpoolMax
	}
	if cfg.MaxBackups == 0 {
		cfg.MaxBackups = DefaultMaxBackups
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	l := &Logger{
		format: cfg.Format,
		log:    logger,
		clock:  clk,
		flush:  cfg.FlushInterval,
		prefix: hex.EncodeToString(rnd[:]) + "-",
	}
	var err error
	if cfg.File != "" {
		if l.file, err = openFileSink(cfg.File, cfg.MaxSize, cfg.MaxAge, cfg.MaxBackups, clk); err != nil {
			return nil, err
		}
	}
	add := func(name, format string, t transport, settle time.Duration) error {
		sp, err := openSpool(filepath.Join(cfg.SpoolDir, name), cfg.SpoolMax)
		if err != nil {
			return err
		}
		if sp.resent != nil {
			logger.Warn("querylog: spool commit unreadable; sending the whole spool again, so the collector may get duplicates",
				"collector", name, "err", sp.resent)
		}
		l.cols = append(l.cols, &collector{name: name, format: format, spool: sp, t: t, settle: settle, log: logger})
		l.needFmt[fmtIndex(format)] = true
		return nil
	}
	for _, sc := range cfg.Syslog {
		t, err := newSyslog(sc)
		if err == nil {
			settle := streamSettle
			if sc.Network == "udp" {
				settle = udpSettle
			}
			err = add(syslogName(sc), cfg.Format, t, settle)
		}
		if err != nil {
			l.closeSinks()
			return nil, fmt.Errorf("querylog: syslog %s: %w", sc.Address, err)
		}
	}
	for _, hc := range cfg.HEC {
		t, err := newHEC(hc)
		if err == nil {
			err = add(hecName(hc), FormatJSON, t, 0)
		}
		if err != nil {
			l.closeSinks()
			return nil, fmt.Errorf("querylog: hec %s: %w", hc.URL, err)
		}
	}
	for _, dc := range cfg.Dnstap {
		t, err := newDnstap(dc)
		if err == nil {
			if err = add(dnstapName(dc), spoolDnstap, t, dnstapSettle(dc.Network)); err != nil {
				t.close()
			}
		}
		if err != nil {
			l.closeSinks()
			return nil, fmt.Errorf("querylog: dnstap %s: %w", dc.Address, err)
		}
	}
	if l.file != nil || len(l.cols) > 0 {
		// Without a sink nothing would read the queue, so there is none.
		l.entries = swapq.New[Entry](cfg.QueueSize)
	}
	if l.needFmt[fmtIndex(spoolDnstap)] {
		l.exchanges = make(chan Exchange, cfg.QueueSize)
	}
	return l, nil
}

// spoolDnstap is the spool payload of dnstap sinks: dnstap messages,
// not records.
const spoolDnstap = "dnstap"

func fmtIndex(format string) int {
	switch format {
	case FormatKV:
		return 1
	case spoolDnstap:
		return 2
	}
	return 0
}

// KeepsRequests says whether Log keeps an entry's Request past the call:
// only a dnstap sink reads it, and then it must stay as it is. Without
// one, a caller may leave Request out and reuse the request.
func (l *Logger) KeepsRequests() bool { return l.entries != nil && l.needFmt[fmtIndex(spoolDnstap)] }

// Log queues e without ever blocking; when the queue is full the entry is
// dropped and counted, and Run reports the count.
func (l *Logger) Log(e Entry) {
	if l.entries == nil {
		return // no sink
	}
	if !l.entries.Put(e) {
		l.dropped.Add(1)
	}
}

// LogExchange queues an upstream exchange for the dnstap sinks, like Log:
// never blocking, and counted as dropped when the queue is full. Without a
// dnstap sink it does nothing.
func (l *Logger) LogExchange(x Exchange) {
	if l.exchanges == nil {
		return
	}
	select {
	case l.exchanges <- x:
	default:
		l.dropped.Add(1)
	}
}

// Run encodes and delivers until ctx ends, then writes out everything
// queued (to the file and the spools), gives collectors a short last
// chance to deliver, and closes the sinks. It may be called once.
func (l *Logger) Run(ctx context.Context) error {
	if !l.started.CompareAndSwap(false, true) {
		return errors.New("querylog: Run called twice")
	}
	var wg sync.WaitGroup
	drained := make(chan struct{})
	for _, c := range l.cols {
		wg.Go(func() { c.run(ctx, drained) })
	}
	l.dispatch(ctx)
	close(drained)
	wg.Wait()
	return l.closeSinks()
}

// dispatch is the single encoder: one goroutine, so query ids are assigned
// in queue order and the buffers are reused without locking.
func (l *Logger) dispatch(ctx context.Context) {
	report := l.clock.newTimer(reportEvery)
	defer report.stop()
	// pause lets a spell's entries gather into one write (FlushInterval).
	var pause timer
	if l.flush > 0 {
		pause = l.clock.newTimer(l.flush)
		pause.stop()
		defer pause.stop()
	}
	// sync runs only while something written is not yet synced, so an
	// idle resolver's encoder stays asleep.
	syncTimer := l.clock.newTimer(syncEvery)
	syncTimer.stop()
	defer syncTimer.stop()
	syncDue := false
	var (
		b       batch
		reports reporter
	)
	written := func() {
		if !syncDue {
			syncTimer.reset(syncEvery)
			syncDue = true
		}
	}
	// Without a sink there is no queue, and nothing to wait for on it.
	var ready <-chan struct{}
	if l.entries != nil {
		ready = l.entries.Ready()
	}
	for {
		select {
		case <-ready:
			if pause != nil {
				pause.reset(l.flush)
				select {
				case <-pause.c():
				case <-ctx.Done():
				}
			}
			l.drain(&b, &reports)
			written()
		case x := <-l.exchanges:
			l.drainExchanges(&b, &reports, x)
			written()
		case <-syncTimer.c():
			syncDue = false
			l.sync(&reports)
		case <-report.c():
			reports.report(l)
			report.reset(reportEvery)
		case <-ctx.Done():
			l.drain(&b, &reports)
			l.drainExchanges(&b, &reports)
			reports.report(l)
			return
		}
	}
}

// sync makes everything written to the file and the spools durable.
func (l *Logger) sync(rep *reporter) {
	if l.file != nil {
		if err := l.file.sync(); err != nil {
			rep.fail("file", err)
		}
	}
	for _, c := range l.cols {
		if err := c.spool.sync(); err != nil {
			rep.fail(c.name, err)
		}
	}
}

// drain encodes and writes everything queued, a batch at a time, until
// the queue is empty.
func (l *Logger) drain(b *batch, reports *reporter) {
	if l.entries == nil {
		return
	}
	for {
		items := l.entries.Take(l.spare)
		if len(items) == 0 {
			l.spare = items
			return
		}
		for rest := items; len(rest) > 0; {
			n := min(len(rest), batchEntries)
			b.reset()
			for i := range rest[:n] {
				b.add(l, rest[i])
			}
			l.write(b, reports)
			rest = rest[n:]
		}
		clear(items) // the messages they point to may go
		l.spare = items[:0]
	}
}

// drainExchanges encodes and writes first and every exchange queued, a
// batch at a time. Only the dnstap spools take them.
func (l *Logger) drainExchanges(b *batch, reports *reporter, first ...Exchange) {
	for {
		b.reset()
		for _, x := range first {
			b.addExchange(x)
		}
		first = nil
	fill:
		for b.lines[2] < batchEntries {
			select {
			case x := <-l.exchanges:
				b.addExchange(x)
			default:
				break fill
			}
		}
		if b.lines[2] == 0 {
			return
		}
		l.write(b, reports)
	}
}

// batch holds the encodings of a few entries, one buffer per output.
type batch struct {
	seq     uint64 // query counter, part of every qid
	entries int
	records int
	recs    []Record
	scratch scratch
	qid     []byte
	file    []byte
	spool   [3][]byte // json, kv, dnstap
	lines   [3]int    // lines in each spool buffer
}

func (b *batch) reset() {
	b.entries, b.records = 0, 0
	b.file = b.file[:0]
	for i := range b.spool {
		b.spool[i], b.lines[i] = b.spool[i][:0], 0
	}
}

func (b *batch) addExchange(x Exchange) {
	var n int
	b.spool[2], n = appendTapExchange(b.spool[2], &x)
	b.lines[2] += n
}

func (b *batch) add(l *Logger, e Entry) {
	if e.flow != nil {
		b.addFlow(l, e.flow)
		return
	}
	b.seq++
	b.qid = strconv.AppendUint(append(b.qid[:0], l.prefix...), b.seq, 16)
	// The records view qid, as they view the scratch: both are
	// rewritten only after the records are encoded.
	b.recs = appendRecords(b.recs[:0], &b.scratch, unsafe.String(&b.qid[0], len(b.qid)), e)
	for i := range b.recs {
		r := &b.recs[i]
		if l.file != nil {
			b.file = appendFormat(b.file, l.format, r)
		}
		if l.needFmt[0] {
			b.spool[0] = appendSpoolLine(b.spool[0], FormatJSON, r)
		}
		if l.needFmt[1] {
			b.spool[1] = appendSpoolLine(b.spool[1], FormatKV, r)
		}
	}
	if l.needFmt[2] {
		var n int
		b.spool[2], n = appendTapEntry(b.spool[2], &e)
		b.lines[2] += n
	}
	b.entries++
	b.records += len(b.recs)
	b.lines[0], b.lines[1] = b.records, b.records
}

func (l *Logger) write(b *batch, rep *reporter) {
	if l.file != nil && b.records > 0 {
		if err := l.file.write(b.file, b.records); err != nil {
			rep.fail("file", err)
		}
	}
	for _, c := range l.cols {
		i := fmtIndex(c.format)
		if _, err := c.spool.append(b.spool[i], b.lines[i]); err != nil {
			rep.fail(c.name, err)
		}
	}
}

// Reopen reopens the log file, after logrotate renamed it, and has each
// dnstap file sink end its file and start a new one before its next write.
func (l *Logger) Reopen() error {
	for _, c := range l.cols {
		if t, ok := c.t.(*dnstapTransport); ok && t.cfg.Network == "file" {
			t.reopen()
		}
	}
	if l.file == nil {
		return nil
	}
	return l.file.reopen()
}

// Stats returns the current counters.
func (l *Logger) Stats() Stats {
	st := Stats{Queued: len(l.exchanges), Dropped: l.dropped.Load()}
	if l.entries != nil {
		st.Queued += l.entries.Len()
	}
	if l.file != nil {
		st.Sinks = append(st.Sinks, SinkStats{Name: "file", Written: l.file.written.Load(), Dropped: l.file.dropped.Load()})
	}
	for _, c := range l.cols {
		pending, dropped := c.spool.stats()
		st.Sinks = append(st.Sinks, SinkStats{Name: c.name, Written: c.written.Load(), Spooled: pending, Dropped: dropped})
	}
	return st
}

func (l *Logger) closeSinks() error {
	var errs []error
	if l.file != nil {
		errs = append(errs, l.file.close())
	}
	for _, c := range l.cols {
		c.t.close() // a no-op after Run, which closes them; not before
		errs = append(errs, c.spool.close())
	}
	return errors.Join(errs...)
}

// reporter turns failures and drop counts into at most one log line per
// sink per reportEvery, so a broken disk cannot flood the program log.
type reporter struct {
	errs    map[string]error
	dropped map[string]uint64 // already reported
}

func (r *reporter) fail(sink string, err error) {
	if r.errs == nil {
		r.errs = map[string]error{}
	}
	if _, ok := r.errs[sink]; !ok {
		r.errs[sink] = err
	}
}

func (r *reporter) report(l *Logger) {
	if r.dropped == nil {
		r.dropped = map[string]uint64{}
	}
	st := l.Stats()
	if n := st.Dropped - r.dropped["queue"]; n > 0 {
		l.log.Warn("querylog: queue full; entries dropped", "dropped", n, "total", st.Dropped)
		r.dropped["queue"] = st.Dropped
	}
	for _, s := range st.Sinks {
		if n := s.Dropped - r.dropped[s.Name]; n > 0 {
			l.log.Warn("querylog: records dropped", "sink", s.Name, "dropped", n, "total", s.Dropped, "err", r.errs[s.Name])
			r.dropped[s.Name] = s.Dropped
		}
	}
	for sink, err := range r.errs {
		l.log.Error("querylog: sink error", "sink", sink, "err", err)
	}
	clear(r.errs)
}
