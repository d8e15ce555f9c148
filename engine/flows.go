package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dnsward/dnsward/answers"
	"github.com/dnsward/dnsward/config"
	"github.com/dnsward/dnsward/flows"
	"github.com/dnsward/dnsward/metrics"
	"github.com/dnsward/dnsward/querylog"
	"github.com/dnsward/dnsward/web"
)

// flowWork is the flow sources and the pipeline that folds their flows,
// joins them to the answer index and logs them as flow records.
type flowWork struct {
	pipeline  *flows.Pipeline
	conntrack *flows.Conntrack
	nflog     *flows.Nflog
	syslog    *flows.Syslog
	stats     *metrics.Metrics
	// qlog is the query log once Start opened it. nflog reads from New
	// on; a record due before Start is counted but not logged.
	qlog atomic.Pointer[querylog.Logger]
	// web is the page that shows the records too, when web.listen is set.
	web atomic.Pointer[web.Web]
}

// newFlows opens the flow sources cfg turns on, nil when none is: opening
// them at New, before privileges are dropped, is what lets a service user
// keep the netlink sockets and a syslog port below 1024, and makes a
// missing kernel module or capability an error at start.
func newFlows(cfg *config.Config, ix *answers.Index, stats *metrics.Metrics, logger *slog.Logger) (*flowWork, error) {
	if !cfg.Flows.On() {
		return nil, nil
	}
	if ix == nil {
		return nil, errors.New("flows: flow records are attributed from the answer index: turn answers.enabled on")
	}
	o := flows.FromConfig(cfg)
	own, err := ownAddrs(cfg.Listen, net.InterfaceAddrs)
	if err != nil {
		return nil, err
	}
	w := &flowWork{stats: stats}
	o.Pipeline.Lookuper, o.Pipeline.Emit = flows.IndexLookuper{Index: ix}, w.emit
	w.pipeline = flows.NewPipeline(o.Pipeline)
	src := func(s *flows.SourceOptions) {
		s.Filter.DNSAddrs = append(slices.Clip(s.Filter.DNSAddrs), own...)
		s.Emit, s.Logger = w.pipeline.Handle, logger
	}
	if o.Conntrack != nil {
		src(&o.Conntrack.SourceOptions)
		if w.conntrack, err = flows.NewConntrack(*o.Conntrack); err != nil {
			return nil, err
		}
	}
	if o.Nflog != nil {
		src(&o.Nflog.SourceOptions)
		if w.nflog, err = flows.NewNflog(*o.Nflog); err != nil {
			w.close()
			return nil, fmt.Errorf("%w (flows.nflog.group %d)", err, o.Nflog.Group)
		}
	}
	if o.Syslog != nil {
		src(&o.Syslog.SourceOptions)
		if w.syslog, err = flows.NewSyslog(*o.Syslog); err != nil {
			w.close()
			return nil, err
		}
	}
	return w, nil
}

// ownAddrs are dnsward's addresses that listen lists as wildcards
// ("0.0.0.0:53", "[::]:53"): the host's interface addresses, to which DNS
// is a lookup rather than a flow. flows.FromConfig has the specific ones.
func ownAddrs(listen []string, interfaceAddrs func() ([]net.Addr, error)) ([]netip.Addr, error) {
	wildcard := slices.ContainsFunc(listen, func(l string) bool {
		host, _, err := net.SplitHostPort(l)
		a, perr := netip.ParseAddr(host)
		return err == nil && (host == "" || perr == nil && a.IsUnspecified())
	})
	if !wildcard {
		return nil, nil
	}
	addrs, err := interfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("flows: the host's addresses, to leave out DNS to a wildcard listen address: %w", err)
	}
	var out []netip.Addr
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out, nil
}

// emit logs a record the pipeline emits and counts it.
func (w *flowWork) emit(f flows.Flow) {
	r := flows.Record(f)
	w.stats.ObserveFlow(r.Verdict, r.Attribution)
	if l := w.qlog.Load(); l != nil {
		l.LogFlow(r)
	}
	if p := w.web.Load(); p != nil {
		p.ObserveFlow(webFlow(r))
	}
}

// run reads the sources and ends windows every second until ctx is done,
// then flushes the open windows once every source has stopped, so that
// the summaries of a window cut short by the stop are logged.
func (w *flowWork) run(ctx context.Context, logger *slog.Logger) {
	var wg sync.WaitGroup
	for name, run := range w.sources() {
		wg.Go(func() {
			if err := run(ctx); err != nil {
				logger.Error("flows: "+name, "err", err)
			}
		})
	}
	w.pipeline.Run(ctx, time.Second)
	wg.Wait()
	w.pipeline.Flush()
}

// sources are the Run methods of the sources that are on, by name.
func (w *flowWork) sources() map[string]func(context.Context) error {
	m := map[string]func(context.Context) error{}
	if w.conntrack != nil {
		m["conntrack"] = w.conntrack.Run
	}
	if w.nflog != nil {
		m["nflog"] = w.nflog.Run
	}
	if w.syslog != nil {
		m["syslog"] = w.syslog.Run
	}
	return m
}

// close closes the sources of flows that will not run.
func (w *flowWork) close() {
	if w.conntrack != nil {
		w.conntrack.Close()
	}
	if w.nflog != nil {
		w.nflog.Close()
	}
	if w.syslog != nil {
		w.syslog.Close()
	}
}

// flowStats reads the counts for the metrics.
func (w *flowWork) flowStats() metrics.FlowStats {
	ps := w.pipeline.Stats()
	out := metrics.FlowStats{Folded: ps.Folded, RateDropped: ps.RateDropped}
	if w.conntrack != nil {
		s := w.conntrack.Stats()
		out.Sources = append(out.Sources, metrics.FlowSourceStats{Source: "conntrack", Kept: s.Kept, Overruns: s.Overruns, Errors: s.Errors})
	}
	if w.nflog != nil {
		s := w.nflog.Stats()
		out.Sources = append(out.Sources, metrics.FlowSourceStats{Source: "nflog", Kept: s.Kept, Overruns: s.Overruns, Malformed: s.Malformed, Errors: s.Errors})
	}
	if w.syslog != nil {
		s := w.syslog.Stats()
		out.Sources = append(out.Sources, metrics.FlowSourceStats{Source: "syslog", Kept: s.Kept, Malformed: s.Malformed, Rejected: s.Rejected, Errors: s.Errors, Dropped: s.Dropped})
	}
	return out
}
