package lan

import (
	"context"
	"os"
	"time"
)

// Watch reloads the names whenever a hosts or leases file has changed since
// loaded was read from cfg, checking every interval until ctx is done, and
// hands each result to apply. Starting from loaded's own view of the files,
// not from when Watch starts, keeps a change made in between. Polling the
// modification time is enough at LAN scale and works where inotify does not
// (files replaced by rename, network file systems).
func Watch(ctx context.Context, cfg Config, loaded *Names, interval time.Duration, apply func(*Names, error)) {
	files := cfg.files()
	last := loaded.files
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if now := stamp(files); now != last {
			last = now
			apply(Load(cfg))
		}
	}
}

// files are the hosts and leases files, whose changes Watch looks for.
func (c Config) files() []string {
	return append(append([]string{}, c.HostsFiles...), c.LeasesFiles...)
}

// stamp summarises the files' sizes and modification times.
func stamp(files []string) string {
	var b []byte
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			b = fi.ModTime().AppendFormat(b, time.RFC3339Nano)
			b = append(b, byte(fi.Size()), byte(fi.Size()>>8), byte(fi.Size()>>16))
		}
		b = append(b, 0)
	}
	return string(b)
}
