package blocklists

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for Config fields left zero.
const (
	DefaultRefreshInterval = 24 * time.Hour
	DefaultMaxSize         = 64 << 20 // bytes; the largest public lists are a few tens of MB
)

// InlineList is the list name of Config.Inline rules.
const InlineList = "config"

// maxRetry caps how long a failed download waits before it is tried again.
const maxRetry = 5 * time.Minute

// Config describes the lists a Manager loads.
type Config struct {
	Sources         []Source
	RefreshInterval time.Duration // for URL sources; 0 = DefaultRefreshInterval
	StateDir        string        // where downloaded copies are kept; "" = no cache
	Inline          []string      // rules given inline in the config, list name InlineList
	MaxSize         int64         // largest accepted list in bytes, local or downloaded; 0 = DefaultMaxSize
}

// Manager holds the lists in force and answers lookups against them.
type Manager struct {
	log      *slog.Logger
	client   *http.Client
	interval time.Duration
	retry    time.Duration
	maxSize  int64
	stateDir string

	mu      sync.Mutex // serialises loading; guards sources
	sources []*sourceState

	cur atomic.Pointer[snapshot]
}

// snapshot is what lookups and Stats read without locking.
type snapshot struct {
	m     *matcher
	stats Stats
}

// New loads inline rules, local files and cached downloads. It stays off the
// network: on a host that resolves through dnsward itself, downloading before
// the resolver serves would stall startup. Call Reload or Run to download URL
// sources. The error is only for an invalid cfg; per-source failures are
// logged and shown in Stats.
func New(cfg Config, logger *slog.Logger, client *http.Client) (*Manager, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if client == nil {
		client = http.DefaultClient
	}
	m := &Manager{
		log:      logger,
		client:   client,
		interval: cmp.Or(cfg.RefreshInterval, DefaultRefreshInterval),
		maxSize:  cmp.Or(cfg.MaxSize, DefaultMaxSize),
		stateDir: cfg.StateDir,
	}
	m.retry = min(m.interval, maxRetry)

	// Inline rules come first so that a match is reported against the
	// config when a list repeats a rule the admin wrote by hand.
	inline := &sourceState{src: Source{Name: InlineList}}
	l, err := parseList(strings.NewReader(strings.Join(cfg.Inline, "\n")), InlineList, math.MaxInt64)
	if err == nil {
		err = l.report
	}
	if err != nil {
		return nil, fmt.Errorf("inline rules: %w", err)
	}
	inline.install(l, time.Now())
	m.sources = append(m.sources, inline)

	for _, src := range cfg.Sources {
		st := &sourceState{src: src}
		if src.URL == "" {
			m.refresh(context.Background(), st) // the error is kept in st.err
		} else if err := m.loadCopy(st); err != nil {
			st.err = err
		}
		if st.err != nil {
			m.log.Warn("blocklist load", "list", src.Name, "err", st.err)
		}
		m.sources = append(m.sources, st)
	}
	m.publish(true)
	return m, nil
}

func (cfg *Config) validate() error {
	if cfg.RefreshInterval < 0 {
		return fmt.Errorf("blocklists: negative refresh interval %v", cfg.RefreshInterval)
	}
	if cfg.MaxSize < 0 {
		return fmt.Errorf("blocklists: negative max size %d", cfg.MaxSize)
	}
	if len(cfg.Sources) >= math.MaxUint16 {
		return fmt.Errorf("blocklists: %d sources, at most %d supported", len(cfg.Sources), math.MaxUint16-1)
	}
	seen := map[string]bool{InlineList: true}
	for i, src := range cfg.Sources {
		switch {
		case src.Name == "":
			return fmt.Errorf("blocklists: source %d has no name", i+1)
		case seen[src.Name]:
			return fmt.Errorf("blocklists: duplicate or reserved source name %q", src.Name)
		case (src.Path == "") == (src.URL == ""):
			return fmt.Errorf("blocklists: source %q needs exactly one of path and url", src.Name)
		}
		seen[src.Name] = true
		if src.URL == "" {
			continue
		}
		u, err := url.Parse(src.URL)
		if err != nil {
			return fmt.Errorf("blocklists: source %q: %w", src.Name, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("blocklists: source %q: url %q is not http(s)", src.Name, src.URL)
		}
	}
	return nil
}

// Blocked reports whether name is blocked and by which list and rule. If an
// allow rule spares a name some list blocks, that allow rule is returned
// with false, so a caller can tell "allowed" from "not listed".
func (m *Manager) Blocked(name string) (Match, bool) {
	return m.cur.Load().m.match(name)
}

// Allowed reports whether an allow rule covers name, and which.
func (m *Manager) Allowed(name string) (Match, bool) {
	return m.cur.Load().m.allowed(name)
}

// Reload re-reads every source, downloading URL sources conditionally. A
// failing source keeps its previous version; the joined error names each
// failing source and the first bad lines of each list.
func (m *Manager) Reload(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	changed := false
	for _, st := range m.sources {
		c, err := m.refresh(ctx, st)
		changed = changed || c
		errs = append(errs, err)
	}
	m.publish(changed)
	return errors.Join(errs...)
}

// Run downloads URL sources as they fall due, at once for any source
// without a fresh cached copy, until ctx is done.
func (m *Manager) Run(ctx context.Context) {
	for {
		next := m.refreshDue(ctx)
		if next.IsZero() {
			<-ctx.Done()
			return
		}
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// refreshDue downloads the URL sources that are due and returns when the
// next one falls due, zero if there are no URL sources.
func (m *Manager) refreshDue(ctx context.Context) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	var next time.Time
	changed := false
	for _, st := range m.sources {
		if st.src.URL == "" {
			continue
		}
		if !time.Now().Before(st.next) && ctx.Err() == nil {
			c, err := m.refresh(ctx, st)
			changed = changed || c
			if err != nil && ctx.Err() == nil {
				m.log.Warn("blocklist refresh", "list", st.src.Name, "err", err)
			}
		}
		if next.IsZero() || st.next.Before(next) {
			next = st.next
		}
	}
	m.publish(changed)
	return next
}

// publish swaps in a new snapshot, recompiling the matcher only if a list
// changed. The caller holds m.mu.
func (m *Manager) publish(rebuild bool) {
	s := &snapshot{stats: Stats{Updated: time.Now()}}
	if old := m.cur.Load(); old != nil && !rebuild {
		s.m = old.m
	} else {
		var layers []layer
		for _, st := range m.sources {
			if st.cur != nil {
				layers = append(layers, layer{name: st.src.Name, allow: st.src.Allow, l: st.cur})
			}
		}
		s.m = newMatcher(layers)
	}
	for _, st := range m.sources {
		s.stats.Lists = append(s.stats.Lists, st.stats())
	}
	m.cur.Store(s)
}

// Stats returns the state of every list, inline rules first.
func (m *Manager) Stats() Stats {
	s := m.cur.Load().stats
	s.Lists = append([]ListStats(nil), s.Lists...)
	return s
}
