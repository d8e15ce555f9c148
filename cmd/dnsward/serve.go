package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dnsward/dnsward/config"
	"github.com/dnsward/dnsward/lan"
	"github.com/dnsward/dnsward/metrics"
	"github.com/dnsward/dnsward/querylog"
	"github.com/dnsward/dnsward/resolver"
	"github.com/dnsward/dnsward/upstream"
	"github.com/miekg/dns"
)

// lanPoll is how often hosts and lease files are checked for changes.
const lanPoll = 5 * time.Second

func runServe(ctx context.Context, args []string, _, stderr io.Writer) error {
	cfg, fs, err := loadConfig("serve", args, stderr)
	if err != nil {
		return err
	}
	floor := tuneCollector()
	defer runtime.KeepAlive(floor)
	logger := cfg.Log.Logger(os.Stderr)

	names := new(atomic.Pointer[lan.Names])
	n, err := lan.Load(lanConfig(cfg))
	if err != nil {
		logger.Warn("local names", "err", err)
	}
	names.Store(n)
	blocks, err := newBlockSet(cfg, logger)
	if err != nil {
		return err
	}
	var stats *metrics.Metrics
	onUpstream := func(name string, took time.Duration, err error) { stats.ObserveUpstream(name, took, err) }
	pipeline, err := newPipeline(cfg, names, blocks, logger, onUpstream)
	if err != nil {
		return err
	}
	listeners, err := resolver.Listen(cfg.Listen)
	if err != nil {
		return err
	}
	defer listeners.Close()
	var metricsListener net.Listener
	if cfg.Metrics.Listen != "" {
		if metricsListener, err = net.Listen("tcp", cfg.Metrics.Listen); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		defer metricsListener.Close()
	}
	if err := dropPrivileges(cfg.User, logger); err != nil {
		return err
	}
	// Opened after dropping privileges, so the log file is the service
	// user's and reopening it after rotation keeps working.
	qcfg := cfg.QueryLogConfig()
	qcfg.FlushInterval = cfg.QueryLog.FlushInterval
	qlog, err := querylog.New(qcfg, logger)
	if err != nil {
		return err
	}
	// The query log outlives the listeners: it is stopped only after the
	// last in-flight query has been logged, then flushes or spools.
	qctx, qstop := context.WithCancel(context.WithoutCancel(ctx))
	qdone := make(chan error, 1)
	go func() { qdone <- qlog.Run(qctx) }()
	defer func() {
		qstop()
		if err := <-qdone; err != nil {
			logger.Error("query log", "err", err)
		}
	}()

	live := new(livePipeline)
	live.Store(pipeline)
	stats = metrics.New(metrics.Sources{
		Cache:       func() resolver.CacheStats { return live.Load().Cache.Stats() },
		Upstreams:   func() []upstream.Status { return live.Load().UpstreamStatus() },
		QueryLog:    qlog.Stats,
		RateLimited: func() uint64 { return live.Load().RateLimited() },
	})

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	// Deferred after wg.Wait, so it runs before it: when Serve fails, the
	// background work below must end too, or the process would hang on.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Go(func() {
		<-ctx.Done()
		// Said when the signal comes, as draining can take query_timeout.
		logger.Info("stopping: finishing the queries in flight")
	})
	if metricsListener != nil {
		wg.Go(func() {
			if err := metrics.Serve(ctx, metricsListener, stats.Handler()); err != nil {
				logger.Error("metrics", "err", err)
			}
		})
	}
	reloads := &reloader{flags: fs, logger: logger, names: names, live: live, onUpstream: onUpstream, cfg: cfg, blocks: blocks}
	hangups := onSignal(syscall.SIGHUP, func() { reloads.reload(ctx) })
	wg.Go(func() { reloads.run(ctx, hangups) })
	reopens := onSignal(syscall.SIGUSR1, func() {
		if err := qlog.Reopen(); err != nil {
			logger.Error("query log reopen", "err", err)
			return
		}
		// Said once per rotation, so an admin sees that logrotate's
		// postrotate reached dnsward.
		logger.Info("SIGUSR1: query log reopened")
	})
	wg.Go(func() { reopens(ctx) })

	if err := notifyReady(); err != nil {
		logger.Warn("readiness not reported", "err", err)
	}
	// The bound addresses, not the configured ones: a port of 0 is the
	// kernel's pick, and a caller (a test, a script) learns it here.
	bound := make([]string, len(listeners.UDP))
	for i, pc := range listeners.UDP {
		bound[i] = pc.LocalAddr().String()
	}
	attrs := []any{"listen", bound, "upstreams", len(cfg.Upstreams), "local_names", n.Len(), "version", version}
	if metricsListener != nil {
		attrs = append(attrs, "metrics", metricsListener.Addr().String())
	}
	logger.Info("serving", attrs...)
	logQueryLogSinks(logger, cfg.QueryLogConfig())
	srv := &resolver.Server{
		Pipeline: live,
		Logger:   logger,
		Limits:   resolver.Limits{TCPPerClient: cfg.Limits.TCPPerClient, TCPTotal: cfg.Limits.TCPTotal},
		Done: func(q *resolver.Query, resp *dns.Msg) {
			e := q.LogEntry(resp)
			qlog.Log(e)
			stats.Observe(q, resp, e.Latency)
		},
	}
	if err := srv.Serve(ctx, listeners); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	cs := live.Load().Cache.Stats()
	logger.Info("stopped", "cache_hits", cs.Hits, "cache_misses", cs.Misses, "cache_stale", cs.Stale, "cache_entries", cs.Entries)
	return nil
}

// logQueryLogSinks says where the query log goes, so an admin who starts
// dnsward by hand knows where to look.
func logQueryLogSinks(logger *slog.Logger, q querylog.Config) {
	file := q.File
	if file == "" {
		file = "none (querylog.file is empty)"
	}
	var collectors []string
	for _, s := range q.Syslog {
		collectors = append(collectors, s.Network+"://"+s.Address)
	}
	for _, h := range q.HEC {
		collectors = append(collectors, h.URL)
	}
	logger.Info("query log", "file", file, "collectors", collectors)
}

// onSignal takes over sig at once and returns the loop that calls f for
// every sig until its context is done, after which sig is ignored. Go's
// default for SIGHUP ends the process, and for SIGUSR1 drops the signal,
// so sig is taken over before the server answers, when a reload or a log
// rotation may already come, and is not handed back to the default while
// the server drains its queries and the query log.
func onSignal(sig os.Signal, f func()) func(context.Context) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sig)
	return func(ctx context.Context) {
		defer signal.Ignore(sig)
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				f()
			}
		}
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

func lanConfig(cfg *config.Config) lan.Config {
	return lan.Config{
		HostsFiles:  cfg.Local.HostsFiles,
		LeasesFiles: cfg.Local.LeasesFiles,
		Records:     cfg.Local.Records,
		Domain:      cfg.Local.Domain,
		TTL:         cfg.Local.TTL,
	}
}

func newPipeline(cfg *config.Config, names *atomic.Pointer[lan.Names], blocks *blockSet, logger *slog.Logger,
	onUpstream func(string, time.Duration, error)) (*resolver.Pipeline, error) {
	parse := func(raws []string) ([]upstream.Upstream, error) {
		var ups []upstream.Upstream
		for _, raw := range raws {
			u, err := upstream.Parse(raw, cfg.UpstreamTimeout)
			if err != nil {
				return nil, err
			}
			ups = append(ups, u)
		}
		return ups, nil
	}
	ups, err := parse(cfg.Upstreams)
	if err != nil {
		return nil, err
	}
	zones := map[string][]upstream.Upstream{}
	for _, z := range cfg.ForwardZones {
		if zones[z.Domain], err = parse(z.Upstreams); err != nil {
			return nil, err
		}
	}
	clients, err := cfg.Clients()
	if err != nil {
		return nil, err
	}
	response, err := cfg.Blocklists.BlockResponse()
	if err != nil {
		return nil, err
	}
	return resolver.NewPipeline(resolver.Config{
		Allowed:       clients,
		RateQPS:       cfg.RateLimit.QPS,
		RateBurst:     cfg.RateLimit.Burst,
		LAN:           names,
		LocalDomains:  cfg.Local.Domains,
		DomainNeeded:  cfg.Local.DomainNeeded,
		BogusPriv:     cfg.Local.BogusPriv,
		Blocklist:     blocks.managers[0],
		BlockGroups:   blocks.groups,
		BlockResponse: response,
		Cache: resolver.CacheConfig{
			Size: cfg.Cache.Size, MinTTL: cfg.Cache.MinTTL, MaxTTL: cfg.Cache.MaxTTL,
			NegativeMaxTTL: cfg.Cache.NegativeMaxTTL, ServeStale: cfg.Cache.ServeStale,
			Prefetch: cfg.Cache.Prefetch,
		},
		Rebind:        cfg.Rebind.Enabled,
		RebindAllowed: cfg.Rebind.Allow,
		Upstreams:     ups,
		ForwardZones:  zones,
		Attempt:       cfg.UpstreamTimeout,
		Timeout:       cfg.QueryTimeout,
		MaxUpstream:   cfg.Limits.UpstreamInflight,
		OnUpstream:    onUpstream,
		Logger:        logger,
	})
}
