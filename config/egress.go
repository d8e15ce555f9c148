package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Answers is the answer index section: which client was given which
// address for which name, and until when.
type Answers struct {
	Enabled    bool          `mapstructure:"enabled"`
	MaxEntries int           `mapstructure:"max_entries"`
	Grace      time.Duration `mapstructure:"grace"`
}

// Devices is the device identity section.
type Devices struct {
	// Neighbours reads clients' MAC addresses from the kernel's ARP and
	// NDP tables.
	Neighbours bool `mapstructure:"neighbours"`
}

// NftSet is the section feeding answers' addresses to nftables sets.
type NftSet struct {
	AddTimeout time.Duration `mapstructure:"add_timeout"`
	Rules      []NftSetRule  `mapstructure:"rules"`
}

// NftSetRule sends the addresses answered for Domains (and their
// subdomains) to Sets, each "family table set".
type NftSetRule struct {
	Domains []string `mapstructure:"domains"`
	Sets    []string `mapstructure:"sets"`
}

// Flows is the flow records section: connections and firewall logs joined
// to the answers behind them.
type Flows struct {
	Clients   []string       `mapstructure:"clients"`
	Window    time.Duration  `mapstructure:"window"`
	Rate      int            `mapstructure:"rate"`
	MaxKeys   int            `mapstructure:"max_keys"`
	Conntrack FlowsConntrack `mapstructure:"conntrack"`
	Nflog     FlowsNflog     `mapstructure:"nflog"`
	Syslog    FlowsSyslog    `mapstructure:"syslog"`
}

// FlowsConntrack is the conntrack flow source.
type FlowsConntrack struct {
	Enabled    bool `mapstructure:"enabled"`
	ReadBuffer int  `mapstructure:"read_buffer"`
}

// FlowsNflog is the nflog flow source; group 0 is off.
type FlowsNflog struct {
	Group          int      `mapstructure:"group"`
	LoggedPrefixes []string `mapstructure:"logged_prefixes"`
}

// FlowsSyslog is the listener for a remote firewall's packet log; off
// when both addresses are empty.
type FlowsSyslog struct {
	UDP            string   `mapstructure:"udp"`
	TCP            string   `mapstructure:"tcp"`
	Senders        []string `mapstructure:"senders"`
	LoggedPrefixes []string `mapstructure:"logged_prefixes"`
}

// Bounds of the egress keys: past them a value is a typo, not a choice.
const (
	maxAnswerEntries = 100_000_000 // ~14 GB at ~140 B an entry
	maxGrace         = 24 * time.Hour
	maxAddTimeout    = time.Second // an answer is held this long at most
	maxFlowWindow    = time.Hour
	maxFlowKeys      = 10_000_000
	maxReadBuffer    = 1 << 30
	maxNflogGroup    = 65535
	maxNameLen       = 255 // nftables table and set names (NFT_NAME_MAXLEN - 1)
	maxLogPrefix     = 127 // the kernel's log prefix, without its NUL
)

// SetRef is one nftables set named as nft lists it: "inet filter allow4".
type SetRef struct {
	Family, Table, Set string
}

// ParseSetRef parses "family table set", family inet, ip or ip6.
func ParseSetRef(s string) (SetRef, error) {
	f := strings.Fields(s)
	if len(f) != 3 {
		return SetRef{}, fmt.Errorf("set %q: want \"family table set\" such as \"inet filter allow4\"", s)
	}
	r := SetRef{Family: f[0], Table: f[1], Set: f[2]}
	switch {
	case r.Family != "inet" && r.Family != "ip" && r.Family != "ip6":
		return SetRef{}, fmt.Errorf("set %q: family %q: want inet, ip or ip6", s, r.Family)
	case len(r.Table) > maxNameLen || len(r.Set) > maxNameLen:
		return SetRef{}, fmt.Errorf("set %q: names are at most %d bytes", s, maxNameLen)
	}
	return r, nil
}

// Listens is whether the syslog listener is on.
func (s FlowsSyslog) Listens() bool { return s.UDP != "" || s.TCP != "" }

// On is whether any flow source is on.
func (f Flows) On() bool { return f.Conntrack.Enabled || f.Nflog.Group != 0 || f.Syslog.Listens() }

// FlowClients is flows.clients parsed, or allow_clients when it is empty.
func (c *Config) FlowClients() []netip.Prefix {
	if len(c.Flows.Clients) > 0 {
		return Prefixes(c.Flows.Clients)
	}
	return Prefixes(c.AllowClients)
}

// validateEgress checks the answers, devices, nftset and flows sections.
func (c *Config) validateEgress() []Problem {
	var ps []Problem
	add := func(key string, err error) { ps = append(ps, Problem{key, err}) }
	inRange := func(key string, v, lo, hi time.Duration) {
		if v < lo || v > hi {
			add(key, fmt.Errorf("%v: want %v to %v", v, lo, hi))
		}
	}
	count := func(key string, v, lo, hi int) {
		if v < lo || v > hi {
			add(key, fmt.Errorf("%d: want %d to %d", v, lo, hi))
		}
	}
	a := c.Answers
	count("answers.max_entries", a.MaxEntries, 1, maxAnswerEntries)
	inRange("answers.grace", a.Grace, time.Second, maxGrace)

	n := c.NftSet
	inRange("nftset.add_timeout", n.AddTimeout, time.Millisecond, maxAddTimeout)
	for i, r := range n.Rules {
		key := fmt.Sprintf("nftset.rules.%d", i)
		if len(r.Domains) == 0 {
			add(key+".domains", fmt.Errorf("a rule needs at least one domain"))
		}
		for j, d := range r.Domains {
			if _, ok := dns.IsDomainName(d); !ok || d == "" || d == "." {
				add(fmt.Sprintf("%s.domains.%d", key, j), fmt.Errorf("%q is not a domain name", d))
			}
		}
		if len(r.Sets) == 0 {
			add(key+".sets", fmt.Errorf("a rule needs at least one set"))
		}
		for j, s := range r.Sets {
			if _, err := ParseSetRef(s); err != nil {
				add(fmt.Sprintf("%s.sets.%d", key, j), err)
			}
		}
	}

	f := c.Flows
	for i, s := range f.Clients {
		if _, err := ParsePrefix(s); err != nil {
			add(fmt.Sprintf("flows.clients.%d", i), err)
		}
	}
	inRange("flows.window", f.Window, time.Second, maxFlowWindow)
	count("flows.rate", f.Rate, 1, 1_000_000)
	count("flows.max_keys", f.MaxKeys, 1, maxFlowKeys)
	count("flows.conntrack.read_buffer", f.Conntrack.ReadBuffer, 0, maxReadBuffer)
	count("flows.nflog.group", f.Nflog.Group, 0, maxNflogGroup)
	prefixes := func(key string, ps []string) {
		for i, p := range ps {
			if p == "" || len(p) > maxLogPrefix {
				add(fmt.Sprintf("%s.%d", key, i), fmt.Errorf("%q: want a log prefix of 1 to %d bytes", p, maxLogPrefix))
			}
		}
	}
	prefixes("flows.nflog.logged_prefixes", f.Nflog.LoggedPrefixes)
	prefixes("flows.syslog.logged_prefixes", f.Syslog.LoggedPrefixes)
	s := f.Syslog
	for key, addr := range map[string]string{"flows.syslog.udp": s.UDP, "flows.syslog.tcp": s.TCP} {
		if addr != "" {
			if err := checkListen(addr); err != nil {
				add(key, err)
			}
		}
	}
	for i, p := range s.Senders {
		if _, err := ParsePrefix(p); err != nil {
			add(fmt.Sprintf("flows.syslog.senders.%d", i), err)
		}
	}
	if s.Listens() && len(s.Senders) == 0 {
		add("flows.syslog.senders", fmt.Errorf("the syslog listener needs the networks of the firewalls it accepts lines from"))
	}
	if f.On() && !a.Enabled {
		add("answers.enabled", fmt.Errorf("flow records are attributed from the answer index: turn it on or the flow sources off"))
	}
	return ps
}
