// Package metrics exports dnsward's figures for Prometheus (/metrics), the
// service manager (/healthz) and `dnsward stats`.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dnsward/dnsward/nftset"
	"github.com/dnsward/dnsward/querylog"
	"github.com/dnsward/dnsward/resolver"
	"github.com/dnsward/dnsward/upstream"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Sources are the live figures read at every scrape.
type Sources struct {
	Cache     func() resolver.CacheStats
	Upstreams func() []upstream.Status
	QueryLog  func() querylog.Stats
	// RateLimited counts queries refused for going over a client's rate.
	RateLimited func() uint64
	// Flows are the flow sources' and pipeline's counts; nil when no
	// flow source is on.
	Flows func() FlowStats
	// NftSet counts the adds to nftables sets; nil when nftset is off.
	NftSet func() nftset.Stats
}

// FlowStats are the counts of the flow sources and of the pipeline that
// folds and caps their flows.
type FlowStats struct {
	Sources []FlowSourceStats
	// Folded is the flows folded into a window's summary record.
	Folded uint64
	// RateDropped is the records the per-second cap dropped.
	RateDropped uint64
}

// FlowSourceStats count one flow source's events; a count the source
// cannot have (a conntrack malformed line) stays zero.
type FlowSourceStats struct {
	// Source is conntrack, nflog or syslog.
	Source string
	// Kept is the flows passed on to the pipeline.
	Kept uint64
	// Overruns is how often a netlink socket overran (ENOBUFS).
	Overruns uint64
	// Dropped is the syslog datagrams the kernel dropped for a full
	// receive buffer.
	Dropped uint64
	// Malformed is the packets or log lines that could not be read.
	Malformed uint64
	// Rejected is the syslog datagrams and connections from senders not
	// allowed.
	Rejected uint64
	// Errors is the other read failures.
	Errors uint64
}

// Metrics holds the counters the query path updates and the registry that
// exposes them with the live figures.
type Metrics struct {
	reg      *prometheus.Registry
	queries  *prometheus.CounterVec
	blocked  *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	upstream *prometheus.HistogramVec
	flows    *prometheus.CounterVec
	// answered holds each label set's counter and histogram once looked
	// up: WithLabelValues hashes its labels and takes a lock on every
	// call (BenchmarkObserve: 114 ns per answer, 48 ns with this). It is
	// copied on write, so the query path reads it without a lock.
	answered   atomic.Pointer[map[answeredLabels]answeredMetrics]
	answeredMu sync.Mutex
}

// answeredLabels are the labels of one answered query's figures.
type answeredLabels struct {
	source resolver.Source
	rcode  int
	qtype  uint16 // 0 for "other"
}

type answeredMetrics struct {
	queries prometheus.Counter
	latency prometheus.Observer
}

// New registers every metric.
func New(src Sources) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dnsward_queries_total", Help: "Queries answered, by where the answer came from, response code and query type.",
		}, []string{"source", "rcode", "type"}),
		blocked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dnsward_blocked_total", Help: "Queries blocked, by the list that blocked them.",
		}, []string{"list"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dnsward_query_duration_seconds", Help: "Time from a query's arrival to its answer, by source.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 4, 10),
		}, []string{"source"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dnsward_upstream_duration_seconds", Help: "Upstream exchange time, by upstream and outcome.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 3, 10),
		}, []string{"upstream", "outcome"}),
		flows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dnsward_flows_total", Help: "Flow records logged, by firewall verdict and by whose lookups explain them.",
		}, []string{"verdict", "attribution"}),
	}
	m.answered.Store(&map[answeredLabels]answeredMetrics{})
	m.reg.MustRegister(m.queries, m.blocked, m.latency, m.upstream, m.flows,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		live{src})
	return m
}

// knownTypes keeps the type label's values few, whatever clients send.
var knownTypes = map[uint16]bool{
	dns.TypeA: true, dns.TypeAAAA: true, dns.TypeCNAME: true, dns.TypeMX: true, dns.TypeNS: true,
	dns.TypePTR: true, dns.TypeSOA: true, dns.TypeSRV: true, dns.TypeTXT: true, dns.TypeHTTPS: true,
	dns.TypeSVCB: true, dns.TypeANY: true, dns.TypeDS: true, dns.TypeDNSKEY: true, dns.TypeCAA: true,
}

// Observe counts one answered query.
func (m *Metrics) Observe(q *resolver.Query, resp *dns.Msg, took time.Duration) {
	l := answeredLabels{source: q.Source, rcode: resp.Rcode}
	if len(q.Req.Question) == 1 && knownTypes[q.Req.Question[0].Qtype] {
		l.qtype = q.Req.Question[0].Qtype
	}
	a, ok := (*m.answered.Load())[l]
	if !ok {
		a = m.lookUp(l)
	}
	a.queries.Inc()
	a.latency.Observe(took.Seconds())
	if q.BlockList != "" {
		m.blocked.WithLabelValues(q.BlockList).Inc()
	}
}

// lookUp finds a label set's figures and keeps them for the next query.
func (m *Metrics) lookUp(l answeredLabels) answeredMetrics {
	m.answeredMu.Lock()
	defer m.answeredMu.Unlock()
	old := *m.answered.Load()
	if a, ok := old[l]; ok {
		return a
	}
	qtype := "other"
	if l.qtype != 0 {
		qtype = dns.TypeToString[l.qtype]
	}
	a := answeredMetrics{
		queries: m.queries.WithLabelValues(l.source.String(), querylog.RcodeName(l.rcode), qtype),
		latency: m.latency.WithLabelValues(l.source.String()),
	}
	next := maps.Clone(old)
	next[l] = a
	m.answered.Store(&next)
	return a
}

// ObserveUpstream records one upstream exchange; it fits upstream.Group's
// OnExchange hook.
func (m *Metrics) ObserveUpstream(name string, took time.Duration, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.upstream.WithLabelValues(name, outcome).Observe(took.Seconds())
}

// ObserveFlow counts one flow record, by its verdict (new, dropped,
// logged) and attribution (same_client, other_client, no_lookup): both
// small fixed sets, so the labels stay few. A summary record counts once,
// like the record it is, whatever its repeats.
func (m *Metrics) ObserveFlow(verdict, attribution string) {
	m.flows.WithLabelValues(verdict, attribution).Inc()
}

// Handler serves /metrics, /healthz and Go's profiles under /debug/pprof/,
// which is how a slow query path on a live box gets diagnosed.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// Serve answers HTTP on l until ctx is done.
func Serve(ctx context.Context, l net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	stop := context.AfterFunc(ctx, func() {
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	})
	defer stop()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// live reads the figures others keep at scrape time, so the query path
// pays nothing for them.
type live struct{ src Sources }

var (
	cacheEntries    = prometheus.NewDesc("dnsward_cache_entries", "Answers held in the cache.", nil, nil)
	cacheHits       = prometheus.NewDesc("dnsward_cache_hits_total", "Questions answered from the cache.", nil, nil)
	cacheMisses     = prometheus.NewDesc("dnsward_cache_misses_total", "Questions the cache could not answer.", nil, nil)
	cacheStale      = prometheus.NewDesc("dnsward_cache_stale_total", "Expired answers served because every upstream failed.", nil, nil)
	cachePrefetched = prometheus.NewDesc("dnsward_cache_prefetched_total", "Popular answers refreshed before they expired.", nil, nil)
	upstreamUp      = prometheus.NewDesc("dnsward_upstream_up", "1 while the upstream answers, 0 while it is probed after failing.", []string{"upstream"}, nil)
	upstreamErrors  = prometheus.NewDesc("dnsward_upstream_errors_total", "Failed exchanges with the upstream.", []string{"upstream"}, nil)
	upstreamEWMA    = prometheus.NewDesc("dnsward_upstream_latency_seconds", "Moving average of the upstream's answer time.", []string{"upstream"}, nil)
	rateLimited     = prometheus.NewDesc("dnsward_ratelimited_total", "Queries refused for going over a client's rate.", nil, nil)
	logQueued       = prometheus.NewDesc("dnsward_querylog_queue_depth", "Query-log entries waiting to be written.", nil, nil)
	logDropped      = prometheus.NewDesc("dnsward_querylog_dropped_total", "Query-log entries dropped because the queue was full.", nil, nil)
	sinkWritten     = prometheus.NewDesc("dnsward_querylog_sink_written_total", "Records delivered by the sink.", []string{"sink"}, nil)
	sinkSpooled     = prometheus.NewDesc("dnsward_querylog_sink_spool_bytes", "Bytes spooled on disk, not yet delivered.", []string{"sink"}, nil)
	sinkDropped     = prometheus.NewDesc("dnsward_querylog_sink_dropped_total", "Records dropped because the spool was full.", []string{"sink"}, nil)
	flowKept        = prometheus.NewDesc("dnsward_flow_source_flows_total", "Flows a flow source passed on.", []string{"source"}, nil)
	flowOverruns    = prometheus.NewDesc("dnsward_flow_source_overruns_total", "Times a flow source's netlink socket overran and lost events.", []string{"source"}, nil)
	flowDropped     = prometheus.NewDesc("dnsward_flow_source_dropped_total", "Syslog lines the kernel dropped for a full receive buffer, before the flow source read them.", []string{"source"}, nil)
	flowMalformed   = prometheus.NewDesc("dnsward_flow_source_malformed_total", "Packets or log lines a flow source could not read.", []string{"source"}, nil)
	flowRejected    = prometheus.NewDesc("dnsward_flow_source_rejected_total", "Syslog datagrams and connections from senders not allowed.", []string{"source"}, nil)
	flowErrors      = prometheus.NewDesc("dnsward_flow_source_errors_total", "A flow source's other read failures.", []string{"source"}, nil)
	flowFolded      = prometheus.NewDesc("dnsward_flows_folded_total", "Flows folded into a summary record by the suppression window.", nil, nil)
	flowRateDropped = prometheus.NewDesc("dnsward_flows_rate_dropped_total", "Flow records dropped by the per-second cap.", nil, nil)
	nftsetAdds      = prometheus.NewDesc("dnsward_nftset_adds_total", "Adds of answers' addresses to nftables sets, by result: added, or failed (refused by the kernel, or never queued).", []string{"result"}, nil)
	nftsetLate      = prometheus.NewDesc("dnsward_nftset_late_adds_total", "Adds still pending when their answer went out after nftset.add_timeout; each is also counted in dnsward_nftset_adds_total when it ends.", nil, nil)
)

// Describe implements prometheus.Collector.
func (l live) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{cacheEntries, cacheHits, cacheMisses, cacheStale, cachePrefetched, upstreamUp, upstreamErrors,
		upstreamEWMA, rateLimited, logQueued, logDropped, sinkWritten, sinkSpooled, sinkDropped,
		flowKept, flowOverruns, flowDropped, flowMalformed, flowRejected, flowErrors, flowFolded, flowRateDropped, nftsetAdds, nftsetLate} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (l live) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	if l.src.Cache != nil {
		c := l.src.Cache()
		gauge(cacheEntries, float64(c.Entries))
		counter(cacheHits, float64(c.Hits))
		counter(cacheMisses, float64(c.Misses))
		counter(cacheStale, float64(c.Stale))
		counter(cachePrefetched, float64(c.Prefetched))
	}
	if l.src.Upstreams != nil {
		for _, u := range l.src.Upstreams() {
			up := 1.0
			if u.Down {
				up = 0
			}
			gauge(upstreamUp, up, u.Name)
			counter(upstreamErrors, float64(u.Errors), u.Name)
			gauge(upstreamEWMA, u.Latency.Seconds(), u.Name)
		}
	}
	if l.src.RateLimited != nil {
		counter(rateLimited, float64(l.src.RateLimited()))
	}
	if l.src.NftSet != nil {
		n := l.src.NftSet()
		counter(nftsetAdds, float64(n.Added), "added")
		counter(nftsetAdds, float64(n.Failed), "failed")
		counter(nftsetLate, float64(n.Late))
	}
	if l.src.QueryLog != nil {
		q := l.src.QueryLog()
		gauge(logQueued, float64(q.Queued))
		counter(logDropped, float64(q.Dropped))
		for _, s := range q.Sinks {
			counter(sinkWritten, float64(s.Written), s.Name)
			gauge(sinkSpooled, float64(s.Spooled), s.Name)
			counter(sinkDropped, float64(s.Dropped), s.Name)
		}
	}
	if l.src.Flows != nil {
		f := l.src.Flows()
		for _, s := range f.Sources {
			counter(flowKept, float64(s.Kept), s.Source)
			counter(flowOverruns, float64(s.Overruns), s.Source)
			counter(flowDropped, float64(s.Dropped), s.Source)
			counter(flowMalformed, float64(s.Malformed), s.Source)
			counter(flowRejected, float64(s.Rejected), s.Source)
			counter(flowErrors, float64(s.Errors), s.Source)
		}
		counter(flowFolded, float64(f.Folded))
		counter(flowRateDropped, float64(f.RateDropped))
	}
}
