package metrics

import (
	"fmt"

	dto "github.com/prometheus/client_model/go"
)

// Totals are the counters and gauges the web page charts, read from the
// registry that /metrics serves, so nothing is counted twice.
type Totals struct {
	Queries     uint64 // answered, every source
	Blocked     uint64 // answered by a blocklist
	CacheHits   uint64
	CacheMisses uint64
	// UpstreamExchanges and UpstreamErrors count exchanges with upstreams,
	// UpstreamSeconds is their summed time.
	UpstreamExchanges uint64
	UpstreamErrors    uint64
	UpstreamSeconds   float64
	LogQueued         uint64 // query-log entries waiting to be written
	LogDropped        uint64 // dropped for a full queue or spool
	LogSpooled        uint64 // bytes spooled, not yet delivered
}

// Totals gathers the registry: the cost of one scrape, paid by the
// caller's goroutine, never the query path.
func (m *Metrics) Totals() (Totals, error) {
	families, err := m.reg.Gather()
	if err != nil {
		return Totals{}, fmt.Errorf("metrics: %w", err)
	}
	var t Totals
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			add(&t, f.GetName(), mt)
		}
	}
	return t, nil
}

// add adds one sample of the family name to t.
func add(t *Totals, name string, mt *dto.Metric) {
	label := func(l string) string {
		for _, p := range mt.GetLabel() {
			if p.GetName() == l {
				return p.GetValue()
			}
		}
		return ""
	}
	counter := uint64(mt.GetCounter().GetValue())
	gauge := uint64(mt.GetGauge().GetValue())
	switch name {
	case "dnsward_queries_total":
		t.Queries += counter
		if label("source") == "blocked" {
			t.Blocked += counter
		}
	case "dnsward_cache_hits_total":
		t.CacheHits += counter
	case "dnsward_cache_misses_total":
		t.CacheMisses += counter
	case "dnsward_upstream_duration_seconds":
		h := mt.GetHistogram()
		t.UpstreamExchanges += h.GetSampleCount()
		t.UpstreamSeconds += h.GetSampleSum()
		if label("outcome") == "error" {
			t.UpstreamErrors += h.GetSampleCount()
		}
	case "dnsward_querylog_queue_depth":
		t.LogQueued += gauge
	case "dnsward_querylog_dropped_total", "dnsward_querylog_sink_dropped_total":
		t.LogDropped += counter
	case "dnsward_querylog_sink_spool_bytes":
		t.LogSpooled += gauge
	}
}
