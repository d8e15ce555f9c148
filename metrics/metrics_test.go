package metrics

import (
	"sync"
	"testing"
	"time"

	"github.com/dnsward/dnsward/nftset"
	"github.com/dnsward/dnsward/resolver"
	"github.com/miekg/dns"
	dto "github.com/prometheus/client_model/go"
)

func answered(source resolver.Source, qtype uint16, rcode int) (*resolver.Query, *dns.Msg) {
	req := new(dns.Msg).SetQuestion("a.example.test.", qtype)
	resp := new(dns.Msg).SetRcode(req, rcode)
	return &resolver.Query{Req: req, Source: source}, resp
}

func TestObserveCountsByLabels(t *testing.T) {
	m := New(Sources{})
	// Each label set is asked from several goroutines at once, so the
	// first lookups race each other (run with -race).
	sent := []struct {
		source resolver.Source
		qtype  uint16
		rcode  int
		times  int
	}{
		{resolver.SourceCache, dns.TypeA, dns.RcodeSuccess, 3},
		{resolver.SourceUpstream, dns.TypeA, dns.RcodeSuccess, 2},
		{resolver.SourceCache, dns.TypeAAAA, dns.RcodeNameError, 1},
		{resolver.SourceBlocked, dns.TypeNULL, dns.RcodeNameError, 4},
		// 16 in a response's OPT is BADVERS, never TSIG's BADSIG.
		{resolver.SourceLocal, dns.TypeA, dns.RcodeBadVers, 1},
	}
	var wg sync.WaitGroup
	for _, s := range sent {
		for range s.times {
			wg.Go(func() {
				q, resp := answered(s.source, s.qtype, s.rcode)
				m.Observe(q, resp, time.Millisecond)
			})
		}
	}
	wg.Wait()
	for _, tt := range []struct {
		source, rcode, qtype string
		want                 float64
	}{
		{"cache", "NOERROR", "A", 3},
		{"upstream", "NOERROR", "A", 2},
		{"cache", "NXDOMAIN", "AAAA", 1},
		{"blocked", "NXDOMAIN", "other", 4},
		{"cache", "NXDOMAIN", "A", 0},
		{"local", "BADVERS", "A", 1},
	} {
		labels := map[string]string{"source": tt.source, "rcode": tt.rcode, "type": tt.qtype}
		if got := gathered(t, m, "dnsward_queries_total", labels).GetCounter().GetValue(); got != tt.want {
			t.Errorf("queries%v = %v, want %v", labels, got, tt.want)
		}
	}
	if got := gathered(t, m, "dnsward_query_duration_seconds", map[string]string{"source": "blocked"}).GetHistogram().GetSampleCount(); got != 4 {
		t.Errorf("latency samples of blocked answers: %d, want 4", got)
	}
}

// gathered is the metric of family name with exactly labels, or nil.
func gathered(t *testing.T, m *Metrics, name string, labels map[string]string) *dto.Metric {
	t.Helper()
	families, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, metric := range f.GetMetric() {
			if len(metric.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range metric.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue metrics
				}
			}
			return metric
		}
	}
	return nil
}

// BenchmarkObserve is what the query path pays per answer for its metrics.
func BenchmarkObserve(b *testing.B) {
	m := New(Sources{})
	q, resp := answered(resolver.SourceCache, dns.TypeA, dns.RcodeSuccess)
	b.ReportAllocs()
	for b.Loop() {
		m.Observe(q, resp, 50*time.Microsecond)
	}
}

func TestObserveFlowCountsByVerdictAndAttribution(t *testing.T) {
	m := New(Sources{})
	sent := []struct {
		verdict, attribution string
		times                int
	}{
		{"new", "same_client", 3},
		{"new", "no_lookup", 2},
		{"dropped", "other_client", 1},
		{"dropped", "no_lookup", 4},
	}
	for _, s := range sent {
		for range s.times {
			m.ObserveFlow(s.verdict, s.attribution)
		}
	}
	for _, tt := range []struct {
		verdict, attribution string
		want                 float64
	}{
		{"new", "same_client", 3},
		{"new", "no_lookup", 2},
		{"dropped", "other_client", 1},
		{"dropped", "no_lookup", 4},
		{"logged", "no_lookup", 0},
	} {
		labels := map[string]string{"verdict": tt.verdict, "attribution": tt.attribution}
		if got := gathered(t, m, "dnsward_flows_total", labels).GetCounter().GetValue(); got != tt.want {
			t.Errorf("flows%v = %v, want %v", labels, got, tt.want)
		}
	}
}

func TestFlowSourceCounters(t *testing.T) {
	m := New(Sources{Flows: func() FlowStats {
		return FlowStats{Folded: 7, RateDropped: 2, Sources: []FlowSourceStats{
			{Source: "conntrack", Kept: 10, Overruns: 1},
			{Source: "syslog", Kept: 3, Malformed: 4, Rejected: 5, Errors: 6, Dropped: 8},
		}}
	}})
	for _, tt := range []struct {
		name, source string
		want         float64
	}{
		{"dnsward_flow_source_flows_total", "conntrack", 10},
		{"dnsward_flow_source_overruns_total", "conntrack", 1},
		{"dnsward_flow_source_flows_total", "syslog", 3},
		{"dnsward_flow_source_malformed_total", "syslog", 4},
		{"dnsward_flow_source_rejected_total", "syslog", 5},
		{"dnsward_flow_source_errors_total", "syslog", 6},
		{"dnsward_flow_source_dropped_total", "syslog", 8},
		{"dnsward_flows_folded_total", "", 7},
		{"dnsward_flows_rate_dropped_total", "", 2},
	} {
		var labels map[string]string
		if tt.source != "" {
			labels = map[string]string{"source": tt.source}
		}
		if got := gathered(t, m, tt.name, labels).GetCounter().GetValue(); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, labels, got, tt.want)
		}
	}
}

// TestNftSetAdds: the feeder's counts are read at scrape time, and none is
// exported when nftset is off.
func TestNftSetAdds(t *testing.T) {
	m := New(Sources{NftSet: func() nftset.Stats { return nftset.Stats{Added: 7, Failed: 2, Late: 1} }})
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"dnsward_nftset_adds_total", map[string]string{"result": "added"}, 7},
		{"dnsward_nftset_adds_total", map[string]string{"result": "failed"}, 2},
		{"dnsward_nftset_late_adds_total", map[string]string{}, 1},
	} {
		if got := gathered(t, m, tt.name, tt.labels).GetCounter().GetValue(); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	if got := gathered(t, New(Sources{}), "dnsward_nftset_adds_total", map[string]string{"result": "added"}); got != nil {
		t.Errorf("nftset off, yet %v", got)
	}
}
