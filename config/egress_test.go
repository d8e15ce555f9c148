package config

import (
	"strings"
	"testing"
	"time"
)

// TestEgressDefaults checks the packaged answers, devices, nftset and
// flows keys: the index on, every flow source off.
func TestEgressDefaults(t *testing.T) {
	cfg, err := loadYAML(t, "")
	if err != nil {
		t.Fatal(err)
	}
	if a := cfg.Answers; !a.Enabled || a.MaxEntries != 1_000_000 || a.Grace != 5*time.Minute {
		t.Errorf("answers %+v", a)
	}
	if !cfg.Devices.Neighbours || cfg.NftSet.AddTimeout != 50*time.Millisecond || len(cfg.NftSet.Rules) != 0 {
		t.Errorf("devices %+v nftset %+v", cfg.Devices, cfg.NftSet)
	}
	if f := cfg.Flows; f.On() || f.Window != time.Minute || f.Rate != 1000 || f.MaxKeys != 65536 {
		t.Errorf("flows %+v", f)
	}
}

// TestEgressValidation checks that each bad egress value is named with its
// file line and reason, and that good ones load.
func TestEgressValidation(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // empty: loads
	}{
		{"rules", "nftset:\n  rules:\n    - domains: [example.com, Example.NET.]\n      sets: [\"inet filter allow4\", \"ip6  fw  allow6\"]\n", nil},
		{"bad family", "nftset:\n  rules:\n    - domains: [example.com]\n      sets: [\"bridge filter allow4\"]\n",
			[]string{":4: nftset.rules.0.sets.0: set \"bridge filter allow4\": family \"bridge\": want inet, ip or ip6"}},
		{"two words", "nftset:\n  rules:\n    - domains: [example.com]\n      sets:\n        - filter allow4\n",
			[]string{":5: nftset.rules.0.sets.0: set \"filter allow4\": want \"family table set\""}},
		{"bad domain and none", "nftset:\n  rules:\n    - domains: [\"exa mple..com\"]\n      sets: [\"inet filter a\"]\n    - sets: [\"inet filter a\"]\n",
			[]string{":3: nftset.rules.0.domains.0: \"exa mple..com\" is not a domain name", ":5: nftset.rules.1.domains: a rule needs at least one domain"}},
		{"no sets", "nftset:\n  rules:\n    - domains: [example.com]\n", []string{":3: nftset.rules.0.sets: a rule needs at least one set"}},
		{"add_timeout", "nftset:\n  add_timeout: 5s\n", []string{":2: nftset.add_timeout: 5s: want 1ms to 1s"}},
		{"answers", "answers:\n  max_entries: 0\n  grace: 0s\n",
			[]string{":2: answers.max_entries: 0: want 1 to 100000000", ":3: answers.grace: 0s: want 1s to 24h0m0s"}},
		{"flows numbers", "flows:\n  window: 0s\n  rate: -1\n  max_keys: 0\n  conntrack:\n    read_buffer: -5\n  nflog:\n    group: 70000\n",
			[]string{":2: flows.window: 0s: want 1s", ":3: flows.rate: -1: want 1", ":4: flows.max_keys: 0: want 1",
				":6: flows.conntrack.read_buffer: -5: want 0", ":8: flows.nflog.group: 70000: want 0 to 65535"}},
		{"flows clients", "flows:\n  clients: [192.168.1.0/24, lan]\n", []string{":2: flows.clients.1: client network \"lan\""}},
		{"syslog", "flows:\n  syslog:\n    udp: \":514\"\n    tcp: 192.168.1.2\n    senders: [192.168.1.1, 10.0.0.0/33]\n",
			[]string{":4: flows.syslog.tcp: listen address \"192.168.1.2\"", ":5: flows.syslog.senders.1: client network \"10.0.0.0/33\""}},
		{"syslog without senders", "flows:\n  syslog:\n    udp: \"[::1]:5514\"\n",
			[]string{":2: flows.syslog.senders: the syslog listener needs the networks"}},
		{"syslog", "flows:\n  syslog:\n    udp: \"[::1]:5514\"\n    senders: [\"::1\"]\n    logged_prefixes: [allowed, \"\"]\n",
			[]string{":5: flows.syslog.logged_prefixes.1: \"\": want a log prefix of 1 to 127 bytes"}},
		{"flows without index", "answers:\n  enabled: false\nflows:\n  nflog:\n    group: 2\n",
			[]string{":2: answers.enabled: flow records are attributed from the answer index"}},
		{"flows on", "flows:\n  conntrack:\n    enabled: true\n  nflog:\n    group: 2\n    logged_prefixes: [\"allow \"]\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadYAML(t, tt.yaml)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("loaded; want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestParseSetRef checks the "family table set" syntax the nftset package
// takes without parsing it again.
func TestParseSetRef(t *testing.T) {
	tests := []struct {
		in   string
		want SetRef
		err  string
	}{
		{"inet filter allow4", SetRef{"inet", "filter", "allow4"}, ""},
		{" ip6\tfw  egress_v6 ", SetRef{"ip6", "fw", "egress_v6"}, ""},
		{"inet filter", SetRef{}, "want \"family table set\""},
		{"inet filter a b", SetRef{}, "want \"family table set\""},
		{"INET filter a", SetRef{}, "want inet, ip or ip6"},
		{"ip filter " + strings.Repeat("s", 256), SetRef{}, "at most 255 bytes"},
	}
	for _, tt := range tests {
		got, err := ParseSetRef(tt.in)
		if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("ParseSetRef(%q) = %+v, %v; want %+v, %q", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// TestFlowClients falls back to allow_clients when flows.clients is empty.
func TestFlowClients(t *testing.T) {
	c := &Config{AllowClients: []string{"10.0.0.0/8"}}
	if got := c.FlowClients(); len(got) != 1 || got[0].String() != "10.0.0.0/8" {
		t.Errorf("fallback: %v", got)
	}
	c.Flows.Clients = []string{"192.168.1.0/24", "fd00::/8"}
	if got := c.FlowClients(); len(got) != 2 || got[1].String() != "fd00::/8" {
		t.Errorf("flows.clients: %v", got)
	}
}
