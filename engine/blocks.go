package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync"

	"github.com/dnsward/dnsward/blocklists"
	"github.com/dnsward/dnsward/config"
	"github.com/dnsward/dnsward/resolver"
)

// BlockSet is the blocklists for every client and those of each client
// group, each loaded, refreshed and reloaded on its own so that one bad
// source never touches the others.
type BlockSet struct {
	managers []*blocklists.Manager // every client's first, then each group's
	groups   []resolver.BlockGroup
}

// Match says whether name is blocked for client, and by which list and
// rule, as the pipeline's blocking stage would.
func (s *BlockSet) Match(name string, client netip.Addr) (blocklists.Match, bool) {
	return (&resolver.Block{Lists: s.managers[0], Groups: s.groups}).Match(name, client)
}

// BlockConfigs is what the block set is built from: the lists for every
// client first, then one per group, in configuration order.
func BlockConfigs(cfg *config.Config) []blocklists.Config {
	out := []blocklists.Config{listsConfig(cfg, "blocklists", cfg.Blocklists.Rules, cfg.Blocklists.Lists)}
	for _, g := range cfg.Blocklists.Groups {
		out = append(out, listsConfig(cfg, filepath.Join("blocklists", "groups", g.Name), g.Rules, g.Lists))
	}
	return out
}

// listsConfig is one manager's configuration; downloads are kept under
// stateSub of the state directory.
func listsConfig(cfg *config.Config, stateSub string, rules []string, lists []config.BlocklistSource) blocklists.Config {
	bc := blocklists.Config{RefreshInterval: cfg.Blocklists.Refresh, Inline: rules}
	if cfg.StateDir != "" {
		bc.StateDir = filepath.Join(cfg.StateDir, stateSub)
	}
	for _, l := range lists {
		bc.Sources = append(bc.Sources, blocklists.Source{Name: l.Name, Path: l.Path, URL: l.URL, Allow: l.Allow})
	}
	return bc
}

// NewBlockSet loads every list from disk; see blocklists.New.
func NewBlockSet(cfg *config.Config, logger *slog.Logger) (*BlockSet, error) {
	configs := BlockConfigs(cfg)
	all, err := blocklists.New(configs[0], logger, nil)
	if err != nil {
		return nil, err
	}
	set := &BlockSet{managers: []*blocklists.Manager{all}}
	for i, g := range cfg.Blocklists.Groups {
		m, err := blocklists.New(configs[i+1], logger.With("group", g.Name), nil)
		if err != nil {
			return nil, fmt.Errorf("blocklists group %s: %w", g.Name, err)
		}
		set.managers = append(set.managers, m)
		set.groups = append(set.groups, resolver.BlockGroup{Name: g.Name, Clients: config.Prefixes(g.Clients), Lists: m})
	}
	return set, nil
}

// Reload re-reads every list; a failing one keeps its previous version.
func (s *BlockSet) Reload(ctx context.Context) error {
	var errs []error
	for _, m := range s.managers {
		errs = append(errs, m.Reload(ctx))
	}
	return errors.Join(errs...)
}

// Run refreshes every list on its interval until ctx is done.
func (s *BlockSet) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, m := range s.managers {
		wg.Go(func() { m.Run(ctx) })
	}
	wg.Wait()
}
