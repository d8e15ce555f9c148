package querylog

import (
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"
)

const (
	chunkBytes    = 256 << 10 // spool bytes per delivery attempt
	minBackoff    = 100 * time.Millisecond
	maxBackoff    = 30 * time.Second
	finalFlushFor = 3 * time.Second // delivery allowed after Run's context ends
)

// transport is what a collector sink needs from one kind of collector; the
// queueing, ordering, retries and spooling live in collector, shared.
type transport interface {
	// send delivers spooled lines ("<unix nanos> <payload>") in order.
	send(ctx context.Context, lines [][]byte) error
	// check reports a connection found dead, for transports whose
	// successful send is not an acknowledgement.
	check() error
	// finish confirms at shutdown that everything sent was received.
	finish(ctx context.Context) error
	close()
}

// sent is a delivered chunk not yet committed in the spool.
type sent struct {
	end   pos
	lines int
	at    time.Time
}

// collector feeds one transport from its own spool in its own goroutine,
// so a hung collector delays nothing but itself.
type collector struct {
	name   string
	format string // payload format of the spooled lines
	spool  *spool
	t      transport
	// settle is how long sent data stays replayable: a successful write
	// only means the kernel took it. A stream collector that dies loses
	// what it had not read yet; a datagram to a closed port or a host that
	// is down is lost, and the kernel says so only later.
	settle  time.Duration
	log     *slog.Logger
	written atomic.Uint64

	lines    [][]byte // reused by sendNext
	inflight []sent
	down     bool
	backoff  time.Duration
}

// run delivers until ctx ends, then, once drained is closed (the last
// records are spooled), briefly tries to deliver the rest; whatever is left
// stays in the spool for the next start.
func (c *collector) run(ctx context.Context, drained <-chan struct{}) {
	defer c.t.close()
	for ctx.Err() == nil {
		if c.backoff > 0 && !sleep(ctx, c.backoff) {
			break
		}
		if err := c.commitSettled(); err != nil {
			c.fail(err)
			continue
		}
		more, err := c.sendNext(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			c.reset() // interrupted by shutdown: flush resends it
		case err != nil:
			c.fail(err)
		case !more:
			c.idle(ctx)
		default:
			c.ok()
		}
	}
	<-drained
	c.flush(ctx)
}

// sendNext sends the next chunk of the spool; false when it is empty.
func (c *collector) sendNext(ctx context.Context) (bool, error) {
	chunk, end, err := c.spool.next(chunkBytes)
	if err != nil || chunk == nil {
		return false, err
	}
	c.lines = splitLines(c.lines[:0], chunk)
	if err := c.t.send(ctx, c.lines); err != nil {
		return false, err
	}
	c.inflight = append(c.inflight, sent{end, len(c.lines), time.Now()})
	return true, nil
}

// flush is the shutdown pass: no retries, bounded time.
func (c *collector) flush(parent context.Context) {
	if c.down {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), finalFlushFor)
	defer cancel()
	var err error
	for more := true; more && err == nil; {
		more, err = c.sendNext(ctx)
	}
	if err != nil {
		c.log.Warn("querylog: final delivery failed; records stay spooled", "sink", c.name, "err", err)
	}
	if c.settle > 0 && (err != nil || len(c.inflight) > 0 && c.t.finish(ctx) != nil) {
		return // unconfirmed: replayed on the next start
	}
	if err := c.commit(len(c.inflight)); err != nil {
		c.log.Warn("querylog: spool commit failed", "sink", c.name, "err", err)
	}
}

// commitSettled commits the chunks sent at least settle ago, after checking
// that the connection they went over is still alive.
func (c *collector) commitSettled() error {
	n := 0
	for n < len(c.inflight) && time.Since(c.inflight[n].at) >= c.settle {
		n++
	}
	if n == 0 {
		return nil
	}
	if c.settle > 0 {
		if err := c.t.check(); err != nil {
			return err
		}
	}
	return c.commit(n)
}

func (c *collector) commit(n int) error {
	if n == 0 {
		return nil
	}
	if err := c.spool.commitTo(c.inflight[n-1].end); err != nil {
		return err
	}
	for _, s := range c.inflight[:n] {
		c.written.Add(uint64(s.lines))
	}
	c.inflight = append(c.inflight[:0], c.inflight[n:]...)
	return nil
}

// idle waits for new spool data, or for the oldest in-flight chunk to
// settle.
func (c *collector) idle(ctx context.Context) {
	var settle <-chan time.Time
	if len(c.inflight) > 0 {
		t := time.NewTimer(c.settle - time.Since(c.inflight[0].at))
		defer t.Stop()
		settle = t.C
	}
	select {
	case <-ctx.Done():
	case <-c.spool.ready:
	case <-settle:
	}
}

// fail drops the connection and replays everything not committed, which
// is what makes delivery at-least-once.
func (c *collector) fail(err error) {
	c.reset()
	if !c.down {
		c.log.Warn("querylog: collector unavailable; spooling", "sink", c.name, "err", err)
		c.down = true
	} else {
		c.log.Debug("querylog: collector still unavailable", "sink", c.name, "err", err)
	}
	c.backoff = min(max(2*c.backoff, minBackoff), maxBackoff)
	c.backoff = c.backoff/2 + rand.N(c.backoff/2+1)
}

// reset forgets the connection and everything sent but not committed.
func (c *collector) reset() {
	c.t.close()
	c.spool.rewind()
	c.inflight = c.inflight[:0]
}

func (c *collector) ok() {
	if c.down {
		c.log.Info("querylog: collector back; replaying spool", "sink", c.name)
		c.down = false
	}
	c.backoff = 0
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// splitLines cuts a chunk of whole lines, dropping the newlines.
func splitLines(dst [][]byte, chunk []byte) [][]byte {
	for len(chunk) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		dst = append(dst, chunk[:i])
		chunk = chunk[i+1:]
	}
	return dst
}

// appendSpoolLine prefixes the record's time so that transports can stamp
// the envelope without decoding the payload.
func appendSpoolLine(b []byte, format string, r *Record) []byte {
	b = strconv.AppendInt(b, r.Time.UnixNano(), 10)
	b = append(b, ' ')
	return appendFormat(b, format, r)
}

// cutSpoolLine undoes appendSpoolLine.
func cutSpoolLine(line []byte) (time.Time, []byte) {
	ns, payload, _ := bytes.Cut(line, []byte{' '})
	n, _ := strconv.ParseInt(string(ns), 10, 64)
	return time.Unix(0, n), payload
}
