package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dnsward/dnsward/config"
	"github.com/dnsward/dnsward/resolver"
	"github.com/spf13/pflag"
)

// flags is the configuration flag set, parsed from args.
func flags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	config.Flags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

// loadYAML loads yaml, as the --config file unless empty, with Load.
func loadYAML(t *testing.T, yaml string) (*config.Config, error) {
	t.Helper()
	if yaml == "" {
		return Load(flags(t))
	}
	file := filepath.Join(t.TempDir(), "dnsward.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(flags(t, "--config", file))
}

// TestPackageChecksNameFileLineAndReason checks what only the engine's
// packages can: upstream URLs and stamps, the block response, collectors;
// their problems are told among config's own, in file order.
func TestPackageChecksNameFileLineAndReason(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"bad stamp", "upstreams:\n  - udp://127.0.0.1:53\n  - sdns://AQ\n", []string{`:3: upstreams.1: upstream stamp "sdns://AQ"`}},
		{"bad scheme", "upstreams:\n  - quic://dns.example\n", []string{`:2: upstreams.0: upstream "quic://dns.example": unknown scheme "quic"`}},
		{"bad zone upstream", "forward_zones:\n  - domain: lan\n    upstreams: [ftp://x]\n",
			[]string{`:3: forward_zones.0.upstreams.0: upstream "ftp://x"`}},
		{"bad response", "blocklists:\n  response: 0.0.0.x\n", []string{`:2: blocklists.response: "0.0.0.x": want nxdomain`}},
		{"bad collector", "state_dir: /var/lib/dnsward\nquerylog:\n  syslog:\n    - network: carrier-pigeon\n      address: a:1\n",
			[]string{`:2: querylog: syslog[0]: unknown network "carrier-pigeon"`}},
		{"in file order", "listen: ['localhost:53']\nupstreams:\n  - sdns://AQ\nlog:\n  level: loud\n",
			[]string{":1: listen.0:", ":3: upstreams.0:", ":5: log.level:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadYAML(t, tt.yaml)
			if err == nil {
				t.Fatal("no error")
			}
			rest := err.Error()
			for _, w := range tt.want {
				_, after, ok := strings.Cut(rest, w)
				if !ok {
					t.Fatalf("error %q lacks %q after the problems before it", err, w)
				}
				rest = after
			}
		})
	}
}

// TestPackageChecksNameTheVariable has a package's problem with a value
// from the environment name the variable.
func TestPackageChecksNameTheVariable(t *testing.T) {
	t.Setenv("DNSWARD_UPSTREAMS", "quic://x")
	want := `DNSWARD_UPSTREAMS=quic://x: upstreams.0: upstream "quic://x": unknown scheme`
	if _, err := loadYAML(t, "cache:\n  size: 7\n"); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want %q", err, want)
	}
}

func TestBlockResponseNullAsTheDocsWriteIt(t *testing.T) {
	for _, spelling := range []string{"null", "Null", "NULL", "'null'"} {
		cfg, err := loadYAML(t, "blocklists:\n  response: "+spelling+"\n")
		if err != nil {
			t.Errorf("response: %s: %v", spelling, err)
			continue
		}
		if r, _ := resolver.BlockResponseFrom(cfg.Blocklists); r.Mode != resolver.BlockNull {
			t.Errorf("response: %s: mode %q, want null", spelling, r.Mode)
		}
	}
	// Only the word null means the null answer, not an empty value.
	if _, err := loadYAML(t, "blocklists:\n  response: ~\n"); err == nil {
		t.Error("response: ~ accepted")
	}
}
