package querylog

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// defaultSegMax bounds a segment so that delivered data is freed from disk
// soon after it is committed, not only when the whole spool drains.
const defaultSegMax = 8 << 20

const (
	segSuffix  = ".seg"
	commitFile = "commit"
)

// pos is a place in the spool: a segment and a byte offset within it.
type pos struct {
	seq uint64
	off int64
}

type segment struct {
	seq  uint64
	size int64
}

// spool is an append-only on-disk queue of newline-terminated lines:
// numbered segment files plus a committed read position. Every collector
// record goes through it, so order survives outages and restarts, and a
// line leaves it only when its delivery is committed (at-least-once).
// The logger syncs it every second or so (see syncEvery), so a crash of
// the host loses at most the last second's lines; a crash of dnsward alone
// loses none.
type spool struct {
	dir    string
	max    int64
	segMax int64

	mu       sync.Mutex
	segs     []segment // ascending; the last one is appended to
	w        *os.File
	r        *os.File // open for reading segment rseq
	rseq     uint64
	commit   pos
	read     pos   // ahead of commit by what is in flight
	pending  int64 // bytes appended and not committed
	dropped  uint64
	unsynced unsynced
	ready    chan struct{}
	// resent says why the spool starts over from its oldest segment
	// instead of its commit, when it does.
	resent error
}

// openSpool resumes the spool in dir from its committed position.
func openSpool(dir string, max int64) (*spool, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &spool{dir: dir, max: max, segMax: defaultSegMax, ready: make(chan struct{}, 1)}
	if err := s.load(); err != nil {
		return nil, fmt.Errorf("spool %s: %w", dir, err)
	}
	return s, nil
}

func (s *spool) load() error {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), segSuffix)
		if !ok {
			continue
		}
		seq, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		s.segs = append(s.segs, segment{seq, info.Size()})
	}
	slices.SortFunc(s.segs, func(a, b segment) int { return cmp.Compare(a.seq, b.seq) })
	if len(s.segs) == 0 {
		s.segs = []segment{{seq: 1}}
	}
	if err := s.trimTail(); err != nil {
		return err
	}
	s.commit = pos{seq: s.segs[0].seq}
	if b, err := os.ReadFile(s.path(commitFile)); err == nil {
		// A host crash can leave the commit file empty, torn or ahead
		// of the segments (it is replaced, not synced). Sending the
		// spool again is a duplicate at worst; refusing to start, or
		// resuming mid-line, would lose records.
		if c, err := s.parseCommit(b); err != nil {
			s.resent = fmt.Errorf("commit file %s: %w", s.path(commitFile), err)
		} else {
			s.commit = c
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	s.read = s.commit
	if err := s.dropBefore(s.commit.seq); err != nil {
		return err
	}
	s.pending = s.distance(s.commit, s.end())
	tail := s.segs[len(s.segs)-1]
	s.w, err = os.OpenFile(s.segPath(tail.seq), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	return err
}

// parseCommit reads a commit mark: "<segment> <offset>\n", naming an
// existing segment and the start of a line in it. A mark past the
// segment's end means the crash took delivered lines, so it resumes at the
// end: nothing after them was sent.
func (s *spool) parseCommit(b []byte) (pos, error) {
	var c pos
	line, ok := bytes.CutSuffix(b, []byte{'\n'})
	if !ok {
		return c, errors.New("no line end: torn")
	}
	if _, err := fmt.Sscanf(string(line), "%d %d", &c.seq, &c.off); err != nil {
		return c, err
	}
	i := s.index(c.seq)
	if i < 0 {
		return c, fmt.Errorf("segment %d is missing", c.seq)
	}
	c.off = min(c.off, s.segs[i].size)
	if c.off > 0 {
		f, err := os.Open(s.segPath(c.seq))
		if err != nil {
			return c, err
		}
		defer f.Close()
		var prev [1]byte
		if _, err := f.ReadAt(prev[:], c.off-1); err != nil {
			return c, err
		}
		if prev[0] != '\n' {
			return c, fmt.Errorf("offset %d is inside a line", c.off)
		}
	}
	return c, nil
}

// trimTail cuts a line torn by a crash mid-write, which would otherwise be
// glued to the next line appended.
func (s *spool) trimTail() error {
	tail := &s.segs[len(s.segs)-1]
	if tail.size == 0 {
		return nil
	}
	b, err := os.ReadFile(s.segPath(tail.seq))
	if err != nil {
		return err
	}
	keep := int64(bytes.LastIndexByte(b, '\n') + 1)
	if keep == int64(len(b)) {
		return nil
	}
	tail.size = keep
	return os.Truncate(s.segPath(tail.seq), keep)
}

func (s *spool) path(name string) string { return filepath.Join(s.dir, name) }

func (s *spool) segPath(seq uint64) string {
	return s.path(fmt.Sprintf("%020d%s", seq, segSuffix))
}

func (s *spool) index(seq uint64) int {
	for i, g := range s.segs {
		if g.seq == seq {
			return i
		}
	}
	return -1
}

func (s *spool) end() pos {
	tail := s.segs[len(s.segs)-1]
	return pos{tail.seq, tail.size}
}

// distance counts the bytes from a to b, both within existing segments.
func (s *spool) distance(a, b pos) int64 {
	var n int64
	for _, g := range s.segs {
		if g.seq >= a.seq && g.seq < b.seq {
			n += g.size
		}
	}
	return n - a.off + b.off
}

// append adds whole lines holding n records. What does not fit under the
// size limit is dropped and counted; the number dropped is returned.
func (s *spool) append(b []byte, n int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dropped := 0
	if room := s.max - s.pending; int64(len(b)) > room {
		cut := bytes.LastIndexByte(b[:max(room, 0)], '\n') + 1
		dropped = n - bytes.Count(b[:cut], []byte{'\n'})
		b = b[:cut]
	}
	if len(b) == 0 {
		s.dropped += uint64(dropped)
		return dropped, nil
	}
	tail := &s.segs[len(s.segs)-1]
	if tail.size > 0 && tail.size+int64(len(b)) > s.segMax {
		w, err := s.nextSegment(tail.seq + 1)
		if err != nil {
			s.dropped += uint64(n)
			return n, fmt.Errorf("querylog: spool: %w", err)
		}
		s.w = w
		s.segs = append(s.segs, segment{seq: tail.seq + 1})
		tail = &s.segs[len(s.segs)-1]
	}
	if _, err := s.w.Write(b); err != nil {
		// A partial line would corrupt the next one; cut it off.
		s.w.Truncate(tail.size)
		s.dropped += uint64(n)
		return n, fmt.Errorf("querylog: spool: %w", err)
	}
	tail.size += int64(len(b))
	s.pending += int64(len(b))
	s.dropped += uint64(dropped)
	s.unsynced.dirty = true
	select {
	case s.ready <- struct{}{}:
	default:
	}
	return dropped, nil
}

// nextSegment creates segment seq for appending, once the current one is
// synced and closed: the periodic sync reaches only the open segment.
// The directory is synced too, or a host crash could forget the new file.
func (s *spool) nextSegment(seq uint64) (*os.File, error) {
	w, err := os.OpenFile(s.segPath(seq), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	// Neither failure loses a record now, so neither fails the append:
	// failing it would drop every batch from here on.
	s.unsynced.hold(syncDir(s.dir), s.unsynced.syncFile(s.w))
	s.w.Close()
	return w, nil
}

// sync makes what was appended durable; it does nothing when nothing was.
func (s *spool) sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unsynced.report(s.w, "spool "+s.dir)
}

// next returns whole lines after the read position, about limit bytes, and
// the position after them; nil when nothing is waiting.
func (s *spool) next(limit int) ([]byte, pos, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.index(s.read.seq)
	if i < 0 {
		return nil, s.read, fmt.Errorf("querylog: spool %s: segment %d vanished", s.dir, s.read.seq)
	}
	if s.read.off == s.segs[i].size && i+1 < len(s.segs) {
		i++
		s.read = pos{seq: s.segs[i].seq}
	}
	avail := s.segs[i].size - s.read.off
	if avail == 0 {
		return nil, s.read, nil
	}
	if s.r == nil || s.rseq != s.read.seq {
		if s.r != nil {
			s.r.Close()
		}
		r, err := os.Open(s.segPath(s.read.seq))
		if err != nil {
			s.r = nil
			return nil, s.read, fmt.Errorf("querylog: spool: %w", err)
		}
		s.r, s.rseq = r, s.read.seq
	}
	for {
		n := min(avail, int64(limit))
		buf := make([]byte, n)
		if _, err := s.r.ReadAt(buf, s.read.off); err != nil && !errors.Is(err, io.EOF) {
			return nil, s.read, fmt.Errorf("querylog: spool: %w", err)
		}
		cut := bytes.LastIndexByte(buf, '\n') + 1
		if cut == 0 && n < avail {
			limit *= 2 // one line longer than limit
			continue
		}
		if cut == 0 {
			return nil, s.read, fmt.Errorf("querylog: spool %s: unterminated line in segment %d", s.dir, s.read.seq)
		}
		s.read.off += int64(cut)
		return buf[:cut], s.read, nil
	}
}

// rewind makes everything not committed readable again, after a delivery
// whose fate is unknown.
func (s *spool) rewind() {
	s.mu.Lock()
	s.read = s.commit
	s.mu.Unlock()
}

// commitTo records that everything before p is delivered, and deletes the
// segments that no longer hold anything undelivered.
func (s *spool) commitTo(p pos) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending -= s.distance(s.commit, p)
	s.commit = p
	tmp := s.path(commitFile + ".tmp")
	b := strconv.AppendUint(nil, p.seq, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, p.off, 10)
	b = append(b, '\n')
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		return fmt.Errorf("querylog: spool commit: %w", err)
	}
	if err := os.Rename(tmp, s.path(commitFile)); err != nil {
		return fmt.Errorf("querylog: spool commit: %w", err)
	}
	return s.dropBefore(p.seq)
}

func (s *spool) dropBefore(seq uint64) error {
	keep := s.segs[:0]
	var errs []error
	for _, g := range s.segs {
		if g.seq >= seq {
			keep = append(keep, g)
			continue
		}
		if s.r != nil && s.rseq == g.seq {
			s.r.Close()
			s.r = nil
		}
		if err := os.Remove(s.segPath(g.seq)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	s.segs = keep
	return errors.Join(errs...)
}

// stats returns the bytes waiting and the records dropped so far.
func (s *spool) stats() (pending int64, dropped uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending, s.dropped
}

func (s *spool) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.r != nil {
		s.r.Close()
		s.r = nil
	}
	return errors.Join(s.unsynced.report(s.w, "spool "+s.dir), s.w.Close())
}
