package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dnsward/dnsward/packaging"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// FuzzLoad feeds arbitrary files to the loader. It may reject them, with
// an error naming the file on each of its lines; what it accepts is valid, has
// one entry per forward zone, and loads the same again, from the same file
// (a reload with no edit changes nothing) and written back out as YAML.
func FuzzLoad(f *testing.F) {
	f.Add(packaging.DefaultConfig)
	f.Add([]byte("listen: [':53']\ncache: {size: 3}\nforward_zones: [{domain: a, upstreams: [udp://127.0.0.1:53]}]\n"))
	f.Add([]byte("forward_zones: [{domain: a, upstreams: [udp://127.0.0.1:53]}, {domain: A., upstreams: [tcp://127.0.0.1:53]}]\n"))
	f.Add([]byte("blocklists:\n  response: null\n  lists:\n    - {name: x, url: 'ftp://a'}\n"))
	f.Add([]byte("rate_limit: {qps: 1.5, burst: 3}\ncache: {size: x, max_ttl: [1]}\nlog: 5\n"))
	f.Add([]byte("&a [*a, *a]\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		file := filepath.Join(dir, "c.yaml")
		cfg, err := loadFile(t, file, data)
		if err != nil {
			for line := range strings.SplitSeq(err.Error(), "\n") {
				// Indented lines continue the one before (the YAML parser's).
				if !strings.HasPrefix(line, file) && !strings.HasPrefix(line, " ") {
					t.Fatalf("error line %q does not name the file", line)
				}
			}
			return
		}
		if ps := cfg.validate(); len(ps) > 0 {
			t.Fatalf("accepted an invalid configuration: %v", ps)
		}
		seen := map[string]bool{}
		for _, z := range cfg.ForwardZones {
			d := strings.ToLower(strings.TrimSuffix(z.Domain, "."))
			if seen[d] {
				t.Fatalf("forward zone %q twice after merging: %+v", z.Domain, cfg.ForwardZones)
			}
			seen[d] = true
		}
		again, err := loadFile(t, file, data)
		if err != nil || !reflect.DeepEqual(cfg, again) {
			t.Fatalf("loaded again: %v\n%+v\nwas\n%+v", err, again, cfg)
		}
		out, err := yaml.Marshal(settingsOf(reflect.ValueOf(*cfg)))
		if err != nil {
			t.Fatal(err)
		}
		// Compared as written out: an empty list reads back as [], a
		// missing one as nil, and both mean the same.
		back, err := loadFile(t, file, out)
		if err != nil {
			t.Fatalf("written out, refused: %v\n%s", err, out)
		}
		if out2, _ := yaml.Marshal(settingsOf(reflect.ValueOf(*back))); string(out2) != string(out) {
			t.Fatalf("written out and loaded again:\n%s\nwas\n%s", out2, out)
		}
	})
}

// loadFile writes data to file and loads it.
func loadFile(t *testing.T, file string, data []byte) (*Config, error) {
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("fuzz", pflag.ContinueOnError)
	Flags(fs)
	if err := fs.Parse([]string{"--config", file}); err != nil {
		t.Fatal(err)
	}
	return Load(fs)
}

// settingsOf is a configuration value as the file writes it: mappings
// keyed as mapstructure names them, durations as text.
func settingsOf(v reflect.Value) any {
	switch {
	case v.Type() == durationType:
		return time.Duration(v.Int()).String()
	case v.Kind() == reflect.Struct:
		m := map[string]any{}
		for i := range v.NumField() {
			m[v.Type().Field(i).Tag.Get("mapstructure")] = settingsOf(v.Field(i))
		}
		return m
	case v.Kind() == reflect.Slice:
		items := []any{}
		for i := range v.Len() {
			items = append(items, settingsOf(v.Index(i)))
		}
		return items
	}
	return v.Interface()
}
