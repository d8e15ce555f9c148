package main

import (
	"context"
	"log/slog"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/dnsward/dnsward/config"
	"github.com/dnsward/dnsward/lan"
	"github.com/dnsward/dnsward/resolver"
	"github.com/miekg/dns"
	"github.com/spf13/pflag"
)

// livePipeline answers through the pipeline the last good configuration
// built; queries already in flight finish on the one they started on.
type livePipeline struct {
	atomic.Pointer[resolver.Pipeline]
}

// Answer makes livePipeline a resolver.Stage.
func (l *livePipeline) Answer(ctx context.Context, q *resolver.Query) (*dns.Msg, error) {
	return l.Load().Answer(ctx, q)
}

// reloader owns what the configuration builds (the pipeline, the
// blocklists, the watch on local names) and rebuilds it on SIGHUP. A
// configuration that does not load or build changes nothing: the running
// one stays, and the error names the file, line and reason.
type reloader struct {
	flags      *pflag.FlagSet
	logger     *slog.Logger
	names      *atomic.Pointer[lan.Names]
	live       *livePipeline
	onUpstream func(string, time.Duration, error)

	cfg    *config.Config
	blocks *blockSet
	// The background work of the running configuration.
	pipelineWork, blocksWork, watchWork *task
}

// run keeps the running configuration's background work going and runs
// hangups, the SIGHUP loop, until ctx is done, then stops that work.
func (r *reloader) run(ctx context.Context, hangups func(context.Context)) {
	r.pipelineWork = startTask(ctx, r.live.Load().Run)
	r.blocksWork = startTask(ctx, r.blocks.Run)
	r.watchWork = startTask(ctx, r.watchNames(r.cfg, r.names.Load()))
	hangups(ctx)
	r.pipelineWork.stop()
	r.blocksWork.stop()
	r.watchWork.stop()
}

// watchNames watches cfg's hosts and leases files for changes since loaded
// was read from them.
func (r *reloader) watchNames(cfg *config.Config, loaded *lan.Names) func(context.Context) {
	return func(ctx context.Context) {
		lan.Watch(ctx, lanConfig(cfg), loaded, lanPoll, func(n *lan.Names, err error) { applyNames(r.names, n, err, r.logger) })
	}
}

// reload reads the configuration again. Unchanged, it re-reads the lists
// and local names and keeps the cache; changed, it builds a new pipeline
// (with an empty cache, as dnsmasq and unbound do on reload).
func (r *reloader) reload(ctx context.Context) {
	cfg, err := config.Load(r.flags)
	if err != nil {
		r.logger.Error("SIGHUP: configuration not reloaded, the running one stays", "err", err)
		cfg = r.cfg
	}
	changed := !reflect.DeepEqual(cfg, r.cfg)
	if !changed {
		r.logger.Info("SIGHUP: reloading blocklists and local names")
	}
	blocks := r.blocks
	newLists := changed && (!reflect.DeepEqual(blockConfigs(cfg), blockConfigs(r.cfg)) ||
		!reflect.DeepEqual(cfg.Blocklists.Groups, r.cfg.Blocklists.Groups))
	if newLists {
		if blocks, err = newBlockSet(cfg, r.logger); err != nil {
			r.logger.Error("SIGHUP: configuration not reloaded, the running one stays", "err", err)
			return
		}
	} else if err := blocks.Reload(ctx); err != nil {
		r.logger.Warn("blocklist reload: the previous version of each failing list stays in force", "err", err)
	}
	var pipeline *resolver.Pipeline
	if changed {
		if pipeline, err = newPipeline(cfg, r.names, blocks, r.logger, r.onUpstream); err != nil {
			r.logger.Error("SIGHUP: configuration not reloaded, the running one stays", "err", err)
			return
		}
	}
	n, err := lan.Load(lanConfig(cfg))
	applyNames(r.names, n, err, r.logger)
	if !changed {
		return
	}
	for _, key := range config.RestartOnly(r.cfg, cfg) {
		r.logger.Warn("SIGHUP: "+key+" changed; it takes effect when dnsward restarts", "key", key)
	}
	r.live.Store(pipeline)
	r.pipelineWork.stop()
	r.pipelineWork = startTask(ctx, pipeline.Run)
	if newLists {
		r.blocksWork.stop()
		r.blocks, r.blocksWork = blocks, startTask(ctx, blocks.Run)
	}
	r.watchWork.stop()
	r.watchWork = startTask(ctx, r.watchNames(cfg, n))
	r.cfg = cfg
	r.logger.Info("SIGHUP: configuration reloaded; cache emptied", "upstreams", len(cfg.Upstreams), "local_names", n.Len())
}

// task is background work that a reload replaces.
type task struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func startTask(ctx context.Context, run func(context.Context)) *task {
	ctx, cancel := context.WithCancel(ctx)
	t := &task{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(t.done)
		run(ctx)
	}()
	return t
}

// stop cancels the work and waits for it to return.
func (t *task) stop() {
	t.cancel()
	<-t.done
}
