package engine

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/dnsward/dnsward/config"
	"github.com/dnsward/dnsward/lan"
)

// lanPoll is how often hosts and lease files are checked for changes.
const lanPoll = 5 * time.Second

// watchNames watches cfg's hosts and leases files for changes since loaded
// was read from them.
func (e *Engine) watchNames(cfg *config.Config, loaded *lan.Names) func(context.Context) {
	return func(ctx context.Context) {
		lan.Watch(ctx, lanConfig(cfg), loaded, lanPoll, func(n *lan.Names, err error) { applyNames(e.names, n, err, e.logger) })
	}
}

// applyNames installs reloaded names, unless a file could not be read at
// all: then the last good names stay, as a half-written file must not
// make the LAN's hosts vanish.
func applyNames(cur *atomic.Pointer[lan.Names], n *lan.Names, err error, logger *slog.Logger) {
	if errors.Is(err, lan.ErrUnreadable) {
		logger.Warn("local names not reloaded: keeping the previous ones", "err", err)
		return
	}
	if err != nil {
		logger.Warn("local names: bad lines skipped", "err", err)
	}
	cur.Store(n)
	logger.Info("local names loaded", "names", n.Len())
}

// lanConfig is the local section as package lan takes it.
func lanConfig(cfg *config.Config) lan.Config {
	return lan.Config{
		HostsFiles:  cfg.Local.HostsFiles,
		LeasesFiles: cfg.Local.LeasesFiles,
		Records:     cfg.Local.Records,
		Domain:      cfg.Local.Domain,
		TTL:         cfg.Local.TTL,
	}
}
