package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/dnsward/dnsward/packaging"
	"github.com/spf13/pflag"
)

// FuzzLoad feeds arbitrary files to the loader: it may reject them, with
// an error, but never panic or accept an invalid configuration.
func FuzzLoad(f *testing.F) {
	f.Add(packaging.DefaultConfig)
	f.Add([]byte("listen: [':53']\ncache: {size: 3}\nforward_zones: [{domain: a, upstreams: [udp://127.0.0.1:53]}]\n"))
	f.Add([]byte("blocklists:\n  lists:\n    - {name: x, url: 'ftp://a'}\n"))
	f.Add([]byte("&a [*a, *a]\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		file := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		fs := pflag.NewFlagSet("fuzz", pflag.ContinueOnError)
		Flags(fs)
		if err := fs.Parse([]string{"--config", file}); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(fs)
		if err == nil && len(cfg.validate()) > 0 {
			t.Fatalf("accepted an invalid configuration: %v", cfg.validate())
		}
	})
}
