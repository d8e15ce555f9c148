package flows

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/dnsward/dnsward/config"
)

// TestFromConfig translates the flows section: sources on only when
// configured, the client filter, dnsward's own DNS addresses left out.
func TestFromConfig(t *testing.T) {
	pfx := netip.MustParsePrefix
	base := func(f config.Flows) *config.Config {
		f.Window, f.Rate, f.MaxKeys = 30*time.Second, 500, 1000
		return &config.Config{Listen: []string{"192.168.1.1:53", "[::]:53", "[fd00::1]:53"},
			AllowClients: []string{"192.168.0.0/16"}, Flows: f}
	}
	filter := func(clients ...netip.Prefix) Filter {
		return Filter{Clients: clients, DNSAddrs: []netip.Addr{netip.MustParseAddr("192.168.1.1"), netip.MustParseAddr("fd00::1")}}
	}
	pipeline := PipelineOptions{Window: 30 * time.Second, Rate: 500, MaxKeys: 1000}
	tests := []struct {
		name string
		in   config.Flows
		want Options
	}{
		{"off", config.Flows{}, Options{Pipeline: pipeline}},
		{"conntrack", config.Flows{Conntrack: config.FlowsConntrack{Enabled: true, ReadBuffer: 1 << 20}},
			Options{Pipeline: pipeline, Conntrack: &ConntrackOptions{SourceOptions: SourceOptions{Filter: filter(pfx("192.168.0.0/16"))}, ReadBuffer: 1 << 20}}},
		{"nflog with clients", config.Flows{Clients: []string{"10.1.0.0/16", "fd00::/8"}, Nflog: config.FlowsNflog{Group: 5, LoggedPrefixes: []string{"allow "}}},
			Options{Pipeline: pipeline, Nflog: &NflogOptions{SourceOptions: SourceOptions{Filter: filter(pfx("10.1.0.0/16"), pfx("fd00::/8"))},
				Group: 5, LoggedPrefixes: []string{"allow "}}}},
		{"syslog", config.Flows{Syslog: config.FlowsSyslog{TCP: "192.168.1.2:514", Senders: []string{"192.168.1.254"}}},
			Options{Pipeline: pipeline, Syslog: &SyslogOptions{SourceOptions: SourceOptions{Filter: filter(pfx("192.168.0.0/16"))},
				TCP: "192.168.1.2:514", Senders: []netip.Prefix{pfx("192.168.1.254/32")}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FromConfig(base(tt.in)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
