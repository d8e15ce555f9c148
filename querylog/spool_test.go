package querylog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func lines(from, to int) []byte {
	var b []byte
	for i := from; i < to; i++ {
		b = fmt.Appendf(b, "line %04d\n", i)
	}
	return b
}

// drain reads everything after the read position and returns it with the
// position after it.
func drain(t *testing.T, s *spool) (string, pos) {
	t.Helper()
	var out strings.Builder
	var end pos
	for {
		chunk, p, err := s.next(64)
		if err != nil {
			t.Fatal(err)
		}
		if chunk == nil {
			return out.String(), end
		}
		out.Write(chunk)
		end = p
	}
}

func TestSpool(t *testing.T) {
	dir := t.TempDir()
	s, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	s.segMax = 100 // ten lines per segment
	for i := 0; i < 50; i += 5 {
		if n, err := s.append(lines(i, i+5), 5); n != 0 || err != nil {
			t.Fatalf("append: %d dropped, %v", n, err)
		}
	}
	if segs, _ := filepath.Glob(filepath.Join(dir, "*.seg")); len(segs) != 5 {
		t.Fatalf("%d segments, want 5", len(segs))
	}
	got, end := drain(t, s)
	if got != string(lines(0, 50)) {
		t.Fatalf("read %q", got)
	}
	// An unconfirmed delivery is replayed from the commit point.
	s.rewind()
	if got, _ := drain(t, s); got != string(lines(0, 50)) {
		t.Fatalf("after rewind read %q", got)
	}
	// Commit part way; delivered segments go, and a reopened spool
	// resumes at the commit point.
	mid := pos{seq: end.seq - 2, off: 50}
	if err := s.commitTo(mid); err != nil {
		t.Fatal(err)
	}
	if segs, _ := filepath.Glob(filepath.Join(dir, "*.seg")); len(segs) != 3 {
		t.Fatalf("%d segments after commit, want 3", len(segs))
	}
	if pending, _ := s.stats(); pending != 250 {
		t.Fatalf("pending %d, want 250", pending)
	}
	s.close()

	// A crash mid-append leaves a torn line; reopening cuts it off.
	tail := s.segPath(end.seq)
	f, _ := os.OpenFile(tail, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("line 99")
	f.Close()
	s, err = openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if got, _ := drain(t, s); got != string(lines(25, 50)) {
		t.Fatalf("after reopen read %q", got)
	}
	s.append(lines(50, 51), 1)
	if got, _ := drain(t, s); got != string(lines(50, 51)) {
		t.Fatalf("after torn tail read %q", got)
	}
}

func TestSpoolLimit(t *testing.T) {
	s, err := openSpool(t.TempDir(), 95)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	// Whole lines that fit are kept, the rest dropped and counted.
	if n, err := s.append(lines(0, 7), 7); n != 0 || err != nil {
		t.Fatalf("append: %d dropped, %v", n, err)
	}
	if n, _ := s.append(lines(7, 10), 3); n != 1 {
		t.Fatalf("%d dropped, want 1", n)
	}
	if n, _ := s.append(lines(10, 11), 1); n != 1 {
		t.Fatalf("%d dropped, want 1", n)
	}
	got, end := drain(t, s)
	if got != string(lines(0, 9)) {
		t.Fatalf("read %q", got)
	}
	if pending, dropped := s.stats(); pending != 90 || dropped != 2 {
		t.Fatalf("pending %d dropped %d", pending, dropped)
	}
	// Delivery makes room again.
	s.commitTo(end)
	if n, _ := s.append(lines(11, 12), 1); n != 0 {
		t.Fatalf("%d dropped after commit", n)
	}
}

// TestSpoolCommitAfterHostCrash reopens a spool whose commit file a power
// cut left empty, torn or ahead of the data: the spool still opens, and
// sends again rather than skipping anything undelivered.
func TestSpoolCommitAfterHostCrash(t *testing.T) {
	for _, tc := range []struct {
		name, commit string
		want         string // read after reopening
		resent       bool
	}{
		{"intact", "1 30\n", string(lines(3, 10)), false},
		{"empty", "", string(lines(0, 10)), true},
		{"torn", "1", string(lines(0, 10)), true},
		{"garbage", "\x00\x00\x00", string(lines(0, 10)), true},
		{"torn, still a number", "1 3", string(lines(0, 10)), true},
		{"inside a line", "1 3\n", string(lines(0, 10)), true},
		{"segment missing", "7 0\n", string(lines(0, 10)), true},
		{"ahead of the data", "1 4096\n", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := openSpool(dir, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			s.append(lines(0, 10), 10)
			s.close()
			if err := os.WriteFile(filepath.Join(dir, commitFile), []byte(tc.commit), 0o640); err != nil {
				t.Fatal(err)
			}
			s, err = openSpool(dir, 1<<20)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			defer s.close()
			if (s.resent != nil) != tc.resent {
				t.Errorf("resent = %v, want an error: %v", s.resent, tc.resent)
			}
			if got, _ := drain(t, s); got != tc.want {
				t.Errorf("read %q, want %q", got, tc.want)
			}
		})
	}
}

// TestSinksSync checks what the logger's periodic sync relies on: a write
// marks the file and the spool unsynced, and sync clears the mark.
func TestSinksSync(t *testing.T) {
	dir := t.TempDir()
	sp, err := openSpool(filepath.Join(dir, "spool"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.close()
	f, err := openFileSink(filepath.Join(dir, "q.log"), 0, 0, 1, systemClock{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	unsynced := func() (bool, bool) {
		sp.mu.Lock()
		defer sp.mu.Unlock()
		f.mu.Lock()
		defer f.mu.Unlock()
		return sp.unsynced.dirty, f.unsynced.dirty
	}
	if s, fl := unsynced(); s || fl {
		t.Fatalf("unsynced before any write: spool %v, file %v", s, fl)
	}
	sp.append(lines(0, 1), 1)
	f.write(lines(0, 1), 1)
	if s, fl := unsynced(); !s || !fl {
		t.Fatalf("after a write: spool unsynced %v, file unsynced %v", s, fl)
	}
	if err := errors.Join(sp.sync(), f.sync()); err != nil {
		t.Fatal(err)
	}
	if s, fl := unsynced(); s || fl {
		t.Fatalf("after sync: spool unsynced %v, file unsynced %v", s, fl)
	}
}

// TestSyncPipe logs to a pipe, as "file: /dev/stdout" does under a
// supervisor: it has nothing to sync, and that is not an error to report
// every second.
func TestSyncPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	go io.Copy(io.Discard, r)
	f, err := openFileSink(fmt.Sprintf("/proc/self/fd/%d", w.Fd()), 0, 0, 1, systemClock{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	if err := f.write(lines(0, 1), 1); err != nil {
		t.Fatal(err)
	}
	if err := f.sync(); err != nil {
		t.Fatalf("sync of a pipe: %v", err)
	}
}
