// Package engine is the running resolver: it builds the pipeline, the
// blocklists, the local names, the query log and the metrics from a
// configuration, serves DNS on listeners it is given, reloads on demand and
// stops, every goroutine it starts ended. Flags, signals, binding and
// dropping privileges stay with the command.
package engine

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dnsward/dnsward/answers"
	"github.com/dnsward/dnsward/config"
	"github.com/dnsward/dnsward/lan"
	"github.com/dnsward/dnsward/metrics"
	"github.com/dnsward/dnsward/nftset"
	"github.com/dnsward/dnsward/querylog"
	"github.com/dnsward/dnsward/resolver"
	"github.com/dnsward/dnsward/upstream"
	"github.com/miekg/dns"
)

// Options are what an engine takes besides its first configuration.
type Options struct {
	// Load reads the configuration again for Reload.
	Load func() (*config.Config, error)
	// Logger is the program's own log.
	Logger *slog.Logger
	// Version is said in the "serving" line.
	Version string
}

// Engine owns what a configuration builds. Its life is New, Start, then
// Serve, which returns once everything Start began has ended; Reload and
// ReopenLog may be called from any goroutine in between.
type Engine struct {
	opts   Options
	logger *slog.Logger
	names  *atomic.Pointer[lan.Names]
	live   *livePipeline
	stats  *metrics.Metrics
	// answers is the answer index, nil when answers.enabled is off; it
	// outlives reloads (its size and grace take effect on restart).
	answers *answers.Index
	// flows is the flow sources and pipeline, nil when no source is on.
	flows *flowWork
	// devices ties every record's client to its device; nftset feeds
	// answers to nftables sets, nil without nftset.rules. Both are
	// restart-only, like the index.
	devices *devices
	nftset  *nftset.Feeder
	// web is the read-only page, nil without web.listen (restart-only).
	web *webPage
	// cacheFile keeps the cache across restarts; "" when it is not kept.
	cacheFile string

	// Set by Start.
	qlog      *querylog.Logger
	listeners *resolver.Listeners
	work      context.Context // the background work's, until Serve ends
	stopWork  context.CancelFunc
	wg        sync.WaitGroup // the metrics server and the stopping note
	qstop     context.CancelFunc
	qdone     chan error

	mu     sync.Mutex // serialises reloads, and them with starting and stopping
	cfg    *config.Config
	blocks *BlockSet
	// The running configuration's background work; nil outside Start..Serve.
	pipelineWork, blocksWork, watchWork *task
}

// New builds the engine for cfg, a configuration Load returned: the local
// names, the blocklists (from disk) and the pipeline. Nothing runs yet.
func New(cfg *config.Config, opts Options) (*Engine, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{opts: opts, logger: opts.Logger, names: new(atomic.Pointer[lan.Names]), live: new(livePipeline), cfg: cfg}
	n, err := lan.Load(lanConfig(cfg))
	if err != nil {
		e.logger.Warn("local names", "err", err)
	}
	e.names.Store(n)
	if cfg.Answers.Enabled {
		e.answers = answers.New(answers.FromConfig(cfg.Answers))
	}
	e.devices = newDevices(cfg, e.names)
	if e.blocks, err = NewBlockSet(cfg, e.logger); err != nil {
		return nil, err
	}
	if e.nftset, err = newFeeder(cfg, e.logger); err != nil {
		return nil, err
	}
	src := metrics.Sources{
		Cache:       func() resolver.CacheStats { return e.live.Load().Cache.Stats() },
		Upstreams:   func() []upstream.Status { return e.live.Load().UpstreamStatus() },
		QueryLog:    func() querylog.Stats { return e.qlog.Stats() },
		RateLimited: func() uint64 { return e.live.Load().RateLimited() },
	}
	if cfg.Flows.On() {
		src.Flows = func() metrics.FlowStats { return e.flows.flowStats() }
	}
	if e.nftset != nil {
		src.NftSet = e.nftset.Stats
	}
	e.stats = metrics.New(src)
	e.web = e.newWebPage(cfg)
	p, err := e.newPipeline(cfg, e.blocks)
	if err != nil {
		e.closeFeeder()
		return nil, err
	}
	e.live.Store(p)
	e.cacheFile = cacheFile(cfg)
	e.loadCache(p)
	// Last: nothing after it fails, so the sources it opens will run.
	if e.flows, err = newFlows(cfg, e.answers, e.stats, e.logger); err != nil {
		e.closePipeline(p)
		return nil, err
	}
	return e, nil
}

// Start opens the control socket and the query log, which is why it comes
// after privileges are dropped (both are then the service user's, and
// reopening the log after rotation keeps working), and starts the background work: list refreshes,
// upstream health, the watch on local names and, on metricsListener if not
// nil, the metrics server. Serve must follow, even when ctx ends first.
func (e *Engine) Start(ctx context.Context, listeners *resolver.Listeners, metricsListener net.Listener) error {
	control, err := e.openControl()
	if err != nil {
		return err
	}
	qlog, err := querylog.New(querylog.FromConfig(e.cfg.QueryLog, e.cfg.StateDir), e.logger)
	if err != nil {
		if e.flows != nil {
			e.flows.close()
		}
		if control != nil {
			control.Close()
		}
		e.closeFeeder()
		return err
	}
	e.refreshNeighbours(ctx)
	e.qlog, e.listeners = qlog, listeners
	// The query log outlives the listeners: it is stopped only after the
	// last in-flight query has been logged, then flushes or spools.
	qctx, qstop := context.WithCancel(context.WithoutCancel(ctx))
	e.qstop, e.qdone = qstop, make(chan error, 1)
	go func() { e.qdone <- qlog.Run(qctx) }()
	e.work, e.stopWork = context.WithCancel(context.WithoutCancel(ctx))
	e.serveControlWork(control)
	e.startWeb()
	if metricsListener != nil {
		e.wg.Go(func() {
			if err := metrics.Serve(e.work, metricsListener, e.stats.Handler()); err != nil {
				e.logger.Error("metrics", "err", err)
			}
		})
	}
	if e.flows != nil {
		// Before the query log stops: the flush at the end logs.
		e.flows.qlog.Store(qlog)
		e.wg.Go(func() { e.flows.run(e.work, e.logger) })
	}
	e.mu.Lock()
	e.pipelineWork = startTask(e.work, e.live.Load().Run)
	e.blocksWork = startTask(e.work, e.blocks.Run)
	e.watchWork = startTask(e.work, e.watchNames(e.cfg, e.names.Load()))
	e.mu.Unlock()

	// The bound addresses, not the configured ones: a port of 0 is the
	// kernel's pick, and a caller (a test, a script) learns it here.
	bound := make([]string, len(listeners.UDP))
	for i, pc := range listeners.UDP {
		bound[i] = pc.LocalAddr().String()
	}
	attrs := []any{"listen", bound, "upstreams", len(e.cfg.Upstreams), "local_names", e.names.Load().Len(), "version", e.opts.Version}
	if metricsListener != nil {
		attrs = append(attrs, "metrics", metricsListener.Addr().String())
	}
	e.logger.Info("serving", attrs...)
	logQueryLogSinks(e.logger, e.cfg.QueryLog)
	return nil
}

// Serve answers on the listeners given to Start until ctx is done, lets the
// queries in flight finish, then stops the background work and the query
// log (which flushes or spools) and returns once every goroutine has ended.
func (e *Engine) Serve(ctx context.Context) error {
	served := make(chan struct{})
	e.wg.Go(func() {
		select {
		case <-ctx.Done():
			// Said when the stop comes, as draining can take query_timeout.
			e.logger.Info("stopping: finishing the queries in flight")
		case <-served:
		}
	})
	// Under the lock: a SIGHUP may already be reloading (the TCP limits
	// are restart-only, so the ones read here stay).
	e.mu.Lock()
	limits := resolver.Limits{TCPPerClient: e.cfg.Limits.TCPPerClient, TCPTotal: e.cfg.Limits.TCPTotal}
	e.mu.Unlock()
	srv := &resolver.Server{
		Pipeline: e.live,
		Logger:   e.logger,
		Limits:   limits,
		Done: func(q *resolver.Query, resp *dns.Msg) {
			entry := q.LogEntry(resp)
			if e.qlog.KeepsRequests() {
				q.Keep()
			} else {
				// So the server reuses the request for its next query: at
				// 70,000 hits a second a new one each was most of the
				// garbage, and a collection every second or two.
				entry.Request = nil
			}
			entry.Device = e.devices.Device(q.Client.Addr(), q.Start)
			if e.answers != nil {
				observe(e.answers, &entry, q.RepeatMark(resp))
			}
			e.qlog.Log(entry)
			e.observeWeb(&entry)
			e.stats.Observe(q, resp, entry.Latency)
		},
	}
	err := srv.Serve(ctx, e.listeners)
	close(served)
	e.stop()
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	cs := e.live.Load().Cache.Stats()
	e.logger.Info("stopped", "cache_hits", cs.Hits, "cache_misses", cs.Misses, "cache_stale", cs.Stale, "cache_entries", cs.Entries)
	return nil
}

// stop ends the background work, then the query log, and waits for them.
func (e *Engine) stop() {
	e.mu.Lock()
	e.pipelineWork.stop()
	e.saveCache(e.live.Load())
	e.closePipeline(e.live.Load())
	e.closeFeeder()
	e.blocksWork.stop()
	e.watchWork.stop()
	e.pipelineWork, e.blocksWork, e.watchWork = nil, nil, nil
	e.mu.Unlock()
	e.stopWork()
	e.wg.Wait()
	e.qstop()
	if err := <-e.qdone; err != nil {
		e.logger.Error("query log", "err", err)
	}
}

// Answers is the answer index, nil when it is off.
func (e *Engine) Answers() *answers.Index { return e.answers }

// ReopenLog reopens the query log file, after logrotate moved it away.
func (e *Engine) ReopenLog() error {
	return e.qlog.Reopen()
}

// closePipeline closes p, a pipeline no longer in use, so that its
// upstreams release their sockets.
func (e *Engine) closePipeline(p *resolver.Pipeline) {
	if err := p.Close(); err != nil {
		e.logger.Warn("closing the replaced upstreams", "err", err)
	}
}

// closeLater closes p, replaced on reload, once the queries that started
// on it have had their whole time (wait) to ask its upstreams, or when the
// engine stops, whichever comes first.
func (e *Engine) closeLater(p *resolver.Pipeline, wait time.Duration) {
	e.wg.Go(func() {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-e.work.Done():
		}
		e.closePipeline(p)
	})
}

// newPipeline builds the pipeline for cfg over the engine's local names and
// blocks.
func (e *Engine) newPipeline(cfg *config.Config, blocks *BlockSet) (*resolver.Pipeline, error) {
	rc, err := resolver.ConfigFrom(cfg)
	if err != nil {
		return nil, err
	}
	rc.LAN = e.names
	rc.Blocklist, rc.BlockGroups = blocks.managers[0], blocks.groups
	rc.OnUpstream = func(name string, took time.Duration, err error) { e.stats.ObserveUpstream(name, took, err) }
	rc.Logger = e.logger
	if e.nftset != nil {
		rc.SetFeed = setFeeder{e.nftset}
	}
	if len(cfg.QueryLog.Dnstap) > 0 {
		rc.OnUpstreamMessages = e.logExchange
	}
	return resolver.NewPipeline(rc)
}

// logExchange hands an upstream exchange to the query log's dnstap sinks
// (FORWARDER_QUERY and FORWARDER_RESPONSE). The messages are copied: the
// server rewrites the response's id and flags for its client.
func (e *Engine) logExchange(up upstream.Upstream, q, r *dns.Msg, sent, done time.Time) {
	addr, transport, _ := upstream.Server(up)
	x := querylog.Exchange{Upstream: addr, Proto: transport, Query: q.Copy(), QueryTime: sent, ResponseTime: done}
	if r != nil {
		x.Response = r.Copy()
	}
	e.qlog.LogExchange(x)
}

// logQueryLogSinks says where the query log goes, so an admin who starts
// dnsward by hand knows where to look.
func logQueryLogSinks(logger *slog.Logger, q config.QueryLog) {
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
