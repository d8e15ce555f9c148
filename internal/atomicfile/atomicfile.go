// Package atomicfile replaces files whole: a crash, a kill -9 or a full
// disk leaves the old content or the new, never a half-written file that
// a later start would trust.
package atomicfile

import (
	"io"
	"os"
	"path/filepath"
)

// Write replaces name with what write writes: to a temporary file in the
// same directory, synced, then renamed over name, and the directory synced
// so that the rename survives a power cut.
func Write(name string, write func(io.Writer) error) error {
	dir := filepath.Dir(name)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(name)+"-*")
	if err != nil {
		return err
	}
	err = write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
