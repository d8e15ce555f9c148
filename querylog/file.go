package querylog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// movedCheck is how often the file sink looks whether its file was moved.
const movedCheck = time.Second

// fileSink appends whole lines to a file. It is written by the dispatcher
// and reopened from a signal handler, hence the mutex.
type fileSink struct {
	path       string
	maxSize    int64
	maxAge     time.Duration
	maxBackups int
	clock      clock

	mu     sync.Mutex
	f      *os.File // nil after a failed reopen; retried on the next write
	size   int64
	closed bool
	// began is when the file's first record was written: now for a new
	// file, the first record's time for one found on disk.
	began time.Time
	// info identifies the open file; checked is when path was last
	// compared with it.
	info     os.FileInfo
	checked  time.Time
	unsynced unsynced

	written atomic.Uint64
	dropped atomic.Uint64
}

func openFileSink(path string, maxSize int64, maxAge time.Duration, maxBackups int, clk clock) (*fileSink, error) {
	s := &fileSink{path: path, maxSize: maxSize, maxAge: maxAge, maxBackups: maxBackups, clock: clk}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *fileSink) open() error {
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("querylog: open log file: %w", err)
	}
	info, err := f.Stat()
	var size int64
	if err == nil {
		size, err = endLine(f, info.Size())
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("querylog: open log file: %w", err)
	}
	// The file may be new (a rotation, a restart after logrotate): its
	// name must survive a crash as well as its records.
	s.unsynced.hold(syncDir(filepath.Dir(s.path)))
	s.f, s.size, s.began, s.info = f, size, s.clock.now(), info
	if s.size > 0 {
		s.began = firstRecordTime(s.path, s.began)
	}
	return nil
}

// endLine ends a last line that a crash cut short, so that the next
// record starts a line of its own instead of being glued to it. It
// returns the file's size after.
func endLine(f *os.File, size int64) (int64, error) {
	if size == 0 {
		return 0, nil
	}
	r, err := os.Open(f.Name())
	if err != nil {
		return size, err
	}
	defer r.Close()
	var last [1]byte
	if _, err := r.ReadAt(last[:], size-1); err != nil || last[0] == '\n' {
		return size, err
	}
	n, err := f.Write([]byte{'\n'})
	return size + int64(n), err
}

// firstRecordTime is the time of the first record in the file at path, or
// fallback when it cannot be read, so that a restart does not reset the age
// of the file it appends to.
func firstRecordTime(path string, fallback time.Time) time.Time {
	f, err := os.Open(path)
	if err != nil {
		return fallback
	}
	defer f.Close()
	line, err := bufio.NewReaderSize(f, 4096).ReadSlice('\n')
	if err != nil {
		return fallback
	}
	r, err := ParseLine(line)
	if err != nil || r.Time.IsZero() {
		return fallback
	}
	return r.Time
}

// write appends b, whole lines holding n records. With a size limit it
// rotates between lines, never inside one; with an age limit, before a
// batch once the file's first record is that old.
func (s *fileSink) write(b []byte, n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.dropped.Add(uint64(n))
		return errors.New("querylog: log file closed")
	}
	if s.f == nil {
		if err := s.open(); err != nil {
			s.dropped.Add(uint64(n))
			return err
		}
	}
	now := s.clock.now()
	if now.Sub(s.checked) >= movedCheck {
		s.checked = now
		if s.moved() {
			if err := s.reopenLocked(); err != nil {
				s.dropped.Add(uint64(n))
				return err
			}
		}
	}
	if s.maxAge > 0 && s.size > 0 && now.Sub(s.began) >= s.maxAge {
		if err := s.rotate(); err != nil {
			s.dropped.Add(uint64(n))
			return err
		}
	}
	for len(b) > 0 {
		chunk := b
		if s.maxSize > 0 && s.size+int64(len(b)) > s.maxSize {
			cut := bytes.LastIndexByte(b[:max(s.maxSize-s.size, 0)], '\n') + 1
			if cut == 0 && s.size > 0 {
				if err := s.rotate(); err != nil {
					s.dropped.Add(uint64(bytes.Count(b, []byte{'\n'})))
					return err
				}
				continue
			}
			if cut == 0 { // one line larger than the limit gets a file of its own
				cut = bytes.IndexByte(b, '\n') + 1
			}
			chunk = b[:cut]
		}
		if _, err := s.f.Write(chunk); err != nil {
			// Cut a partial line so the next write does not extend it.
			s.f.Truncate(s.size)
			s.dropped.Add(uint64(bytes.Count(b, []byte{'\n'})))
			return fmt.Errorf("querylog: write log file: %w", err)
		}
		s.size += int64(len(chunk))
		s.unsynced.dirty = true
		s.written.Add(uint64(bytes.Count(chunk, []byte{'\n'})))
		b = b[len(chunk):]
	}
	return nil
}

// moved says whether path no longer names the open file: logrotate (or an
// admin) moved it, and the signal that should follow may never come.
func (s *fileSink) moved() bool {
	info, err := os.Stat(s.path)
	return err != nil || !os.SameFile(info, s.info)
}

// rotate shifts path.N-1 … path to path.N … path.1 and starts afresh.
func (s *fileSink) rotate() error {
	s.closeFile()
	for i := s.maxBackups - 1; i >= 1; i-- {
		err := os.Rename(s.path+"."+strconv.Itoa(i), s.path+"."+strconv.Itoa(i+1))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("querylog: rotate log file: %w", err)
		}
	}
	if err := os.Rename(s.path, s.path+".1"); err != nil {
		return fmt.Errorf("querylog: rotate log file: %w", err)
	}
	return s.open()
}

// reopen follows a rename by logrotate.
func (s *fileSink) reopen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("querylog: log file closed")
	}
	return s.reopenLocked()
}

// reopenLocked closes the file, if open, and opens path afresh; s.mu is held.
func (s *fileSink) reopenLocked() error {
	if s.f != nil {
		s.closeFile()
	}
	return s.open()
}

// closeFile syncs and closes the open file: the periodic sync reaches only
// an open one. A failed sync is kept for sync to report.
func (s *fileSink) closeFile() {
	s.unsynced.hold(s.unsynced.syncFile(s.f), s.f.Close())
	s.f = nil
}

// sync makes what was written durable; it does nothing when nothing was.
func (s *fileSink) sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unsynced.report(s.f, "log file")
}

func (s *fileSink) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.f != nil {
		s.closeFile()
	}
	return s.unsynced.report(nil, "log file")
}
