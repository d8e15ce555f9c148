package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func load(t *testing.T, yaml string, args ...string) (*Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	Flags(fs)
	if yaml != "" {
		file := filepath.Join(t.TempDir(), "dnsward.yaml")
		if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", file)
	}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return Load(fs)
}

func TestDefaultConfigIsValid(t *testing.T) {
	cfg, err := load(t, "")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Listen, " ") != "127.0.0.1:5353 [::1]:5353" {
		t.Errorf("listen %v", cfg.Listen)
	}
	if len(cfg.Upstreams) != 2 || !strings.HasPrefix(cfg.Upstreams[0], "sdns://") {
		t.Errorf("upstreams %v, want the two OpenDNS stamps", cfg.Upstreams)
	}
	if cfg.QueryTimeout != 4*time.Second || cfg.Cache.Size != 100000 {
		t.Errorf("query_timeout %v, cache.size %d", cfg.QueryTimeout, cfg.Cache.Size)
	}
}

func TestOverrides(t *testing.T) {
	t.Setenv("DNSWARD_CACHE_SIZE", "42")
	t.Setenv("DNSWARD_LOG_LEVEL", "debug")
	cfg, err := load(t, "cache:\n  size: 7\n  max_ttl: 1h\nlog:\n  level: warn\n",
		"--listen", "127.0.0.1:53", "--listen", "[::1]:53", "--upstream", "udp://127.0.0.1:5300", "--log-level", "error")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cache.Size != 42 || cfg.Cache.MaxTTL != time.Hour {
		t.Errorf("cache %+v: want size from the environment, max_ttl from the file", cfg.Cache)
	}
	if cfg.Log.Level != "error" {
		t.Errorf("log level %q: the flag should win", cfg.Log.Level)
	}
	if strings.Join(cfg.Listen, " ") != "127.0.0.1:53 [::1]:53" || strings.Join(cfg.Upstreams, " ") != "udp://127.0.0.1:5300" {
		t.Errorf("listen %v upstreams %v", cfg.Listen, cfg.Upstreams)
	}
}

func TestErrorsNameFileLineAndReason(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", "listen: ['127.0.0.1:53']\nupstream: udp://127.0.0.1:53\n", []string{`:2: upstream: unknown key`}},
		{"unknown nested key", "cache:\n  size: 10\n  sise: 3\n", []string{`:3: cache.sise: unknown key`}},
		{"bad stamp", "upstreams:\n  - udp://127.0.0.1:53\n  - sdns://AQ\n", []string{`:3: upstreams.1: upstream stamp "sdns://AQ"`}},
		{"bad scheme", "upstreams:\n  - https://dns.example\n", []string{`:2: upstreams.0: upstream "https://dns.example": unknown scheme "https"`}},
		{"bad address", "listen:\n  - localhost:53\n", []string{`:2: listen.0: listen address "localhost:53": host must be an IP address`}},
		{"bad port", "listen: ['127.0.0.1:70000']\n", []string{`:1: listen.0:`, "invalid port"}},
		{"bad network", "allow_clients:\n  - 10.0.0.0/8\n  - 10.0.0.0/33\n", []string{`:3: allow_clients.1: client network "10.0.0.0/33"`}},
		{"bad duration", "query_timeout: soon\n", []string{`:1: query_timeout: "soon" is not a duration`}},
		{"bad int", "cache:\n  size: many\n", []string{`:2: cache.size: "many" is not a whole number`}},
		{"list for scalar", "cache:\n  size: [1]\n", []string{`:2: cache.size: want a whole number`}},
		{"bad level", "log:\n  level: loud\n", []string{`:2: log.level: "loud"`}},
		{"timeouts", "upstream_timeout: 5s\nquery_timeout: 1s\n", []string{`:2: query_timeout: 1s is shorter than upstream_timeout 5s`}},
		{"not yaml", "listen: [\n", []string{"dnsward.yaml", "line"}},
		{"not a mapping", "- a\n- b\n", []string{":1: the top level must be a mapping"}},
		{"two at once", "cache:\n  size: 0\nlog:\n  format: xml\n", []string{":2: cache.size", ":4: log.format"}},
		{"bad group network", "blocklists:\n  groups:\n    - name: kids\n      clients: [192.168.1.300/26]\n      rules: [a.test]\n",
			[]string{`:4: blocklists.groups.0.clients.0: client network "192.168.1.300/26"`}},
		{"unnamed group", "blocklists:\n  groups:\n    - clients: [10.0.0.0/8]\n      rules: [a.test]\n", []string{`blocklists.groups.0.name`}},
		{"unknown group key", "blocklists:\n  groups:\n    - name: kids\n      client: [10.0.0.0/8]\n", []string{`:4: blocklists.groups.0.client: unknown key`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.yaml)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestEmbeddedDefaultDocumentsEveryKey(t *testing.T) {
	// Every key the code knows is in the shipped file, so the file
	// documents the whole configuration.
	doc, err := parseDocument("dnsward.yaml", mustRead(t, "../packaging/dnsward.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	var walk func(reflect.Type, string)
	walk = func(typ reflect.Type, prefix string) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			key := join(prefix, f.Tag.Get("mapstructure"))
			if f.Type.Kind() == reflect.Struct && f.Type != durationType {
				walk(f.Type, key)
				continue
			}
			keys = append(keys, key)
		}
	}
	walk(reflect.TypeFor[Config](), "")
	if len(keys) < 30 {
		t.Fatalf("found only %d keys: %v", len(keys), keys)
	}
	for _, key := range keys {
		if _, ok := doc.lookup(key); !ok {
			t.Errorf("key %s missing from packaging/dnsward.yaml", key)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
