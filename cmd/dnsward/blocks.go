package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/dnsward/dnsward/blocklists"
	"github.com/dnsward/dnsward/config"
	"github.com/dnsward/dnsward/resolver"
)

// blockSet is the blocklists for every client and those of each client
// group, each loaded, refreshed and reloaded on its own so that one bad
// source never touches the others.
type blockSet struct {
	managers []*blocklists.Manager // every client's first, then each group's
	groups   []resolver.BlockGroup
}

// stage is the pipeline's blocking stage over this set, before its Response
// and Next are set.
func (s *blockSet) stage() *resolver.Block {
	return &resolver.Block{Lists: s.managers[0], Groups: s.groups}
}

// blockConfigs is what the block set is built from: the lists for every
// client first, then one per group, in configuration order.
func blockConfigs(cfg *config.Config) []blocklists.Config {
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

// newBlockSet loads every list from disk; see blocklists.New.
func newBlockSet(cfg *config.Config, logger *slog.Logger) (*blockSet, error) {
	configs := blockConfigs(cfg)
	all, err := blocklists.New(configs[0], logger, nil)
	if err != nil {
		return nil, err
	}
	set := &blockSet{managers: []*blocklists.Manager{all}}
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
func (s *blockSet) Reload(ctx context.Context) error {
	var errs []error
	for _, m := range s.managers {
		errs = append(errs, m.Reload(ctx))
	}
	return errors.Join(errs...)
}

// Run refreshes every list on its interval until ctx is done.
func (s *blockSet) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, m := range s.managers {
		wg.Go(func() { m.Run(ctx) })
	}
	wg.Wait()
}
