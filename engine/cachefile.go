package engine

import (
	"errors"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/dnsward/dnsward/config"
	"github.com/dnsward/dnsward/resolver"
)

// cacheFileName is the cache's file under state_dir.
const cacheFileName = "cache"

// cacheFile is where the cache is kept across restarts, "" when it is not;
// read once, at start, as the keys it depends on are restart-only.
func cacheFile(cfg *config.Config) string {
	if !cfg.Cache.Persist || cfg.StateDir == "" {
		return ""
	}
	return filepath.Join(cfg.StateDir, cacheFileName)
}

// loadCache fills the cache of p from the file the last clean stop wrote.
// A file that is missing, or not one to trust, is logged and the cache
// starts empty: a start never fails for it.
func (e *Engine) loadCache(p *resolver.Pipeline) {
	path := e.cacheFile
	if path == "" {
		return
	}
	began := time.Now()
	st, err := p.Cache.LoadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		e.logger.Info("cache file not found; the cache starts empty", "file", path)
	case err != nil:
		e.logger.Warn("cache file ignored; the cache starts empty", "err", err)
	default:
		e.logger.Info("cache loaded", "file", path, "entries", st.Entries, "expired", st.Expired, "took", time.Since(began).Round(time.Millisecond))
	}
}

// saveCache writes the cache of p for the next start to load.
func (e *Engine) saveCache(p *resolver.Pipeline) {
	path := e.cacheFile
	if path == "" {
		return
	}
	began := time.Now()
	st, err := p.Cache.SaveFile(path)
	if err != nil {
		e.logger.Warn("cache not saved", "err", err)
		return
	}
	e.logger.Info("cache saved", "file", path, "entries", st.Entries, "took", time.Since(began).Round(time.Millisecond))
}
