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

func loadYAML(t *testing.T, yaml string, args ...string) (*Config, error) {
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
	cfg, err := loadYAML(t, "")
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
	cfg, err := loadYAML(t, "cache:\n  size: 7\n  max_ttl: 1h\nlog:\n  level: warn\n",
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
		{"nan qps", "rate_limit:\n  qps: NaN\n", []string{`:1: rate_limit: qps and burst must be finite and not negative`}},
		{"infinite qps", "rate_limit:\n  qps: +Inf\n", []string{`:1: rate_limit: qps and burst must be finite`}},
		{"value for a list of mappings", "blocklists:\n  lists: 0\n", []string{`:2: blocklists.lists: "0" is not a list`}},
		{"two at once", "cache:\n  size: 0\nlog:\n  format: xml\n", []string{":2: cache.size", ":4: log.format"}},
		{"bad group network", "blocklists:\n  groups:\n    - name: kids\n      clients: [192.168.1.300/26]\n      rules: [a.test]\n",
			[]string{`:4: blocklists.groups.0.clients.0: client network "192.168.1.300/26"`}},
		{"unnamed group", "blocklists:\n  groups:\n    - clients: [10.0.0.0/8]\n      rules: [a.test]\n", []string{`blocklists.groups.0.name`}},
		{"unknown group key", "blocklists:\n  groups:\n    - name: kids\n      client: [10.0.0.0/8]\n", []string{`:4: blocklists.groups.0.client: unknown key`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadYAML(t, tt.yaml)
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
	leafKeys(reflect.TypeFor[Config](), "", func(key string, _ reflect.Type) { keys = append(keys, key) })
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

// check is loadYAML for check-config: it returns the notes too.
func check(t *testing.T, yaml string, args ...string) (string, []string, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "dnsward.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	Flags(fs)
	if err := fs.Parse(append(args, "--config", file)); err != nil {
		t.Fatal(err)
	}
	_, notes, err := Check(fs)
	return file, notes, err
}

func TestRepeatedForwardZonesAreMerged(t *testing.T) {
	// What import-dnsmasq writes for two server=/corp.example.com/ lines,
	// plus the same domain spelt differently.
	yaml := "forward_zones:\n" +
		"  - domain: corp.example.com\n    upstreams: [udp://127.0.0.1:5301]\n" +
		"  - domain: other.example\n    upstreams: [udp://127.0.0.1:5309]\n" +
		"  - domain: corp.example.com\n    upstreams: [udp://127.0.0.1:5302]\n" +
		"  - domain: CORP.Example.com.\n    upstreams: [udp://127.0.0.1:5303, udp://127.0.0.1:5301]\n"
	cfg, err := loadYAML(t, yaml)
	if err != nil {
		t.Fatal(err)
	}
	want := []ForwardZone{
		{"corp.example.com", []string{"udp://127.0.0.1:5301", "udp://127.0.0.1:5302", "udp://127.0.0.1:5303"}},
		{"other.example", []string{"udp://127.0.0.1:5309"}},
	}
	if !reflect.DeepEqual(cfg.ForwardZones, want) {
		t.Errorf("forward_zones %+v, want %+v", cfg.ForwardZones, want)
	}
	file, notes, err := check(t, yaml)
	if err != nil {
		t.Fatal(err)
	}
	wantNotes := []string{
		file + ":6: forward_zones.2: corp.example.com merged into forward_zones.0 (line 2)",
		file + ":8: forward_zones.3: CORP.Example.com. merged into forward_zones.0 (line 2)",
	}
	if len(notes) != len(wantNotes) {
		t.Fatalf("notes %q, want %d", notes, len(wantNotes))
	}
	for i, w := range wantNotes {
		if !strings.HasPrefix(notes[i], w) {
			t.Errorf("note %q, want it to start %q", notes[i], w)
		}
	}
}

func TestEveryProblemReportedInLineOrder(t *testing.T) {
	// Seven mistakes, type errors among them, and one from the environment.
	t.Setenv("DNSWARD_RATE_LIMIT_BURST", "lots")
	yaml := "listen: ['localhost:53']\n" + // 1: bad address
		"cache:\n  size: many\n" + // 3: not a number
		"  max_ttl: [1h]\n" + // 4: a list for a duration
		"colour: blue\n" + // 5: unknown key
		"rebind_protection:\n  enabled: maybe\n" + // 7: not a boolean
		"query_timeout: soon\n" + // 8: not a duration
		"log:\n  level: loud\n" // 10: bad level
	_, err := loadYAML(t, yaml)
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{":1: listen.0:", ":3: cache.size:", ":4: cache.max_ttl:", ":5: colour:", ":7: rebind_protection.enabled:",
		":8: query_timeout:", ":10: log.level:", `DNSWARD_RATE_LIMIT_BURST="lots": not a whole number`}
	if len(lines) != len(want) {
		t.Fatalf("%d problems, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("problem %d is %q, want %q", i+1, lines[i], w)
		}
	}
}

func TestEnvironmentErrorsNameTheVariable(t *testing.T) {
	tests := []struct{ name, value, want string }{
		{"DNSWARD_CACHE_SIZE", "abc", `DNSWARD_CACHE_SIZE="abc": not a whole number (for cache.size)`},
		{"DNSWARD_CACHE_SIZE", "0", `DNSWARD_CACHE_SIZE=0: cache.size: must be at least 1`},
		{"DNSWARD_QUERY_TIMEOUT", "4", `DNSWARD_QUERY_TIMEOUT="4": not a duration`},
		{"DNSWARD_CACHE_PREFETCH", "yes", `DNSWARD_CACHE_PREFETCH="yes": not a boolean`},
		{"DNSWARD_LISTEN", "localhost:53", `DNSWARD_LISTEN=localhost:53: listen.0: listen address "localhost:53": host must be an IP address`},
		{"DNSWARD_FORWARD_ZONES", "a", `DNSWARD_FORWARD_ZONES: forward_zones is a list of mappings`},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			t.Setenv(tt.name, tt.value)
			_, err := loadYAML(t, "cache:\n  size: 7\n")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCheckFailsOnMissingBlocklistFile(t *testing.T) {
	dir := t.TempDir()
	present := filepath.Join(dir, "present.txt")
	if err := os.WriteFile(present, []byte("ads.test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := "blocklists:\n  lists:\n    - {name: here, path: " + present + "}\n    - name: gone\n      path: /nonexistent/list.txt\n" +
		"  groups:\n    - name: kids\n      clients: [10.0.0.0/8]\n      lists: [{name: kidsgone, path: /nonexistent/kids.txt}]\n"
	if _, err := loadYAML(t, yaml); err != nil {
		t.Fatalf("serve must start and wait for the file: %v", err)
	}
	file, _, err := check(t, yaml, "--blocklist", "/nonexistent/flag.txt")
	if err == nil {
		t.Fatal("check-config accepted a missing blocklist file")
	}
	for _, w := range []string{
		file + `:5: blocklists.lists.1.path: list "gone": /nonexistent/list.txt does not exist`,
		file + `:9: blocklists.groups.0.lists.0.path: list "kidsgone": /nonexistent/kids.txt does not exist`,
		`--blocklist /nonexistent/flag.txt: blocklists.lists.2.path:`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "present.txt") {
		t.Errorf("error %q names a file that exists", err)
	}
}

func TestEmptyConfigFileIsRefused(t *testing.T) {
	for _, yaml := range []string{"", "\n  \n\n", "# all\n  # comments\n"} {
		file, _, err := check(t, yaml)
		if err == nil || !strings.Contains(err.Error(), file+": the file is empty or holds only comments") {
			t.Errorf("%q: error %v", yaml, err)
		}
	}
}
