package flows

import (
	"net"
	"net/netip"

	"github.com/dnsward/dnsward/config"
)

// Options is the flows section as the pipeline and the sources take it; a
// nil source is off. Emit, Lookuper, Logger and NetNS are the caller's.
type Options struct {
	Pipeline  PipelineOptions
	Conntrack *ConntrackOptions
	Nflog     *NflogOptions
	Syslog    *SyslogOptions
}

// FromConfig translates the flows section of a validated configuration.
// The sources keep the flows of flows.clients (allow_clients when empty)
// and leave out DNS to the listen addresses; a wildcard listen address
// ("0.0.0.0:53") names no address, so the caller adds the host's own.
func FromConfig(c *config.Config) Options {
	f := c.Flows
	src := SourceOptions{Filter: Filter{Clients: c.FlowClients(), DNSAddrs: listenAddrs(c.Listen)}}
	o := Options{Pipeline: PipelineOptions{Window: f.Window, MaxKeys: f.MaxKeys, Rate: float64(f.Rate)}}
	if f.Conntrack.Enabled {
		o.Conntrack = &ConntrackOptions{SourceOptions: src, ReadBuffer: f.Conntrack.ReadBuffer}
	}
	if f.Nflog.Group != 0 {
		o.Nflog = &NflogOptions{SourceOptions: src, Group: uint16(f.Nflog.Group), LoggedPrefixes: f.Nflog.LoggedPrefixes}
	}
	if f.Syslog.Listens() {
		o.Syslog = &SyslogOptions{SourceOptions: src, UDP: f.Syslog.UDP, TCP: f.Syslog.TCP,
			Senders: config.Prefixes(f.Syslog.Senders), LoggedPrefixes: f.Syslog.LoggedPrefixes}
	}
	return o
}

// listenAddrs are the specific addresses among listen host:ports.
func listenAddrs(listen []string) []netip.Addr {
	var out []netip.Addr
	for _, l := range listen {
		host, _, err := net.SplitHostPort(l)
		if err != nil {
			continue
		}
		if a, err := netip.ParseAddr(host); err == nil && !a.IsUnspecified() {
			out = append(out, a)
		}
	}
	return out
}
