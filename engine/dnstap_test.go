package engine

import (
	"strings"
	"testing"

	"github.com/dnsward/dnsward/querylog"
)

// TestQueryLogDnstap checks querylog.dnstap: entries reach the querylog
// config, and a bad one is named with file, line and reason.
func TestQueryLogDnstap(t *testing.T) {
	const head = "state_dir: /var/lib/dnsward\nquerylog:\n  dnstap:\n"
	tests := []struct {
		name    string
		yaml    string
		want    []querylog.DnstapConfig
		wantErr string
	}{
		{"all three", head +
			"    - {network: unix, address: /run/dnstap.sock, identity: ns1, version: v9}\n" +
			"    - {network: tcp, address: '127.0.0.1:6000'}\n" +
			"    - {network: file, address: /var/log/dnsward/tap.fstrm}\n",
			[]querylog.DnstapConfig{
				{Network: "unix", Address: "/run/dnstap.sock", Identity: "ns1", Version: "v9"},
				{Network: "tcp", Address: "127.0.0.1:6000"},
				{Network: "file", Address: "/var/log/dnsward/tap.fstrm"},
			}, ""},
		{"bad network", head + "    - {network: unix, address: /run/a.sock}\n    - {network: udp, address: '127.0.0.1:6000'}\n",
			nil, `:5: querylog.dnstap.1: unknown network "udp"; want unix, tcp or file`},
		{"no port", head + "    - network: tcp\n      address: 127.0.0.1\n",
			nil, `:4: querylog.dnstap.0: address "127.0.0.1"`},
		{"no path", head + "    - network: file\n",
			nil, ":4: querylog.dnstap.0: address is empty; want a file path"},
		{"duplicate", head + "    - {network: unix, address: /run/a.sock}\n    - {network: unix, address: /run/a.sock}\n",
			nil, "duplicate collector dnstap-unix-_run_a.sock"},
		{"no state_dir", "querylog:\n  dnstap:\n    - {network: unix, address: /run/a.sock}\n",
			nil, "state_dir: query-log collectors need state_dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadYAML(t, tt.yaml)
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Count(err.Error(), "querylog.dnstap") > 1 {
					t.Errorf("reported twice: %v", err)
				}
			case err != nil:
				t.Fatal(err)
			default:
				got := querylog.FromConfig(cfg.QueryLog, cfg.StateDir).Dnstap
				if len(got) != len(tt.want) {
					t.Fatalf("dnstap %+v, want %+v", got, tt.want)
				}
				for i := range got {
					if got[i] != tt.want[i] {
						t.Errorf("dnstap[%d] %+v, want %+v", i, got[i], tt.want[i])
					}
				}
			}
		})
	}
}
