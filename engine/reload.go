package engine

import (
	"context"
	"reflect"

	"github.com/dnsward/dnsward/config"
	"github.com/dnsward/dnsward/lan"
	"github.com/dnsward/dnsward/resolver"
)

// Reload reads the configuration again, with Options.Load. Unchanged, it
// re-reads the lists and local names and keeps the cache; changed, it
// builds a new pipeline (with an empty cache, as dnsmasq and unbound do on
// reload) while queries in flight finish on the old one. A configuration
// that does not load or build changes nothing: the running one stays, and
// the log says why with file, line and reason. Outside Start..Serve it
// does nothing.
func (e *Engine) Reload(ctx context.Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pipelineWork == nil {
		return
	}
	cfg, err := e.opts.Load()
	if err != nil {
		e.logger.Error("SIGHUP: configuration not reloaded, the running one stays", "err", err)
		cfg = e.cfg
	}
	changed := !reflect.DeepEqual(cfg, e.cfg)
	if !changed {
		e.logger.Info("SIGHUP: reloading blocklists and local names")
	}
	blocks := e.blocks
	newLists := changed && (!reflect.DeepEqual(BlockConfigs(cfg), BlockConfigs(e.cfg)) ||
		!reflect.DeepEqual(cfg.Blocklists.Groups, e.cfg.Blocklists.Groups))
	if newLists {
		if blocks, err = NewBlockSet(cfg, e.logger); err != nil {
			e.logger.Error("SIGHUP: configuration not reloaded, the running one stays", "err", err)
			return
		}
	} else if err := blocks.Reload(ctx); err != nil {
		e.logger.Warn("blocklist reload: the previous version of each failing list stays in force", "err", err)
	}
	var pipeline *resolver.Pipeline
	if changed {
		if pipeline, err = e.newPipeline(cfg, blocks); err != nil {
			e.logger.Error("SIGHUP: configuration not reloaded, the running one stays", "err", err)
			return
		}
	}
	n, err := lan.Load(lanConfig(cfg))
	applyNames(e.names, n, err, e.logger)
	if !changed {
		return
	}
	for _, key := range config.RestartOnly(e.cfg, cfg) {
		e.logger.Warn("SIGHUP: "+key+" changed; it takes effect when dnsward restarts", "key", key)
	}
	old := e.live.Swap(pipeline)
	e.pipelineWork.stop()
	e.closeLater(old, e.cfg.QueryTimeout)
	e.pipelineWork = startTask(e.work, pipeline.Run)
	if newLists {
		e.blocksWork.stop()
		e.blocks, e.blocksWork = blocks, startTask(e.work, blocks.Run)
	}
	e.watchWork.stop()
	e.watchWork = startTask(e.work, e.watchNames(cfg, n))
	e.cfg = cfg
	e.logger.Info("SIGHUP: configuration reloaded; cache emptied", "upstreams", len(cfg.Upstreams), "local_names", n.Len())
}
