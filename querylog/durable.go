package querylog

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// unsynced tracks, for the file or a spool, whether anything was written
// since the last fsync, and holds the errors of syncs made where no caller
// could report them (as a file is replaced), for the next sync to report.
type unsynced struct {
	dirty bool
	held  error
}

// syncFile syncs f if anything was written to it since the last time.
func (u *unsynced) syncFile(f *os.File) error {
	if !u.dirty || f == nil {
		return nil
	}
	u.dirty = false
	return fsync(f)
}

// hold keeps errs for the next report.
func (u *unsynced) hold(errs ...error) {
	u.held = errors.Join(append([]error{u.held}, errs...)...)
}

// report syncs f and returns that error with every one held, naming the
// sink as what.
func (u *unsynced) report(f *os.File, what string) error {
	err := errors.Join(u.held, u.syncFile(f))
	u.held = nil
	if err != nil {
		return fmt.Errorf("querylog: %s: %w", what, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return fsync(d)
}

// fsync syncs f. EINVAL means f is something that cannot be synced, and
// holds nothing to make durable: a pipe or a terminal (a query log file
// of /dev/stdout, say), or a directory of /proc.
func fsync(f *os.File) error {
	if err := f.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}
