package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestRestartOnlyReadsTheTags changes keys tagged reload:"restart" and
// others: only the tagged ones are named, a section by its own key.
func TestRestartOnlyReadsTheTags(t *testing.T) {
	old, err := loadYAML(t, "")
	if err != nil {
		t.Fatal(err)
	}
	cur := *old
	cur.Listen = []string{"127.0.0.1:53"}
	cur.QueryLog.File = "/tmp/q.log"
	cur.Limits.TCPTotal++
	cur.Limits.UpstreamInflight++ // applied by a reload
	cur.Cache.Size++              // applied by a reload
	cur.Metrics.Listen = "127.0.0.1:9153"
	want := []string{"limits.tcp_total", "listen", "metrics.listen", "querylog"}
	if got := RestartOnly(old, &cur); !slices.Equal(got, want) {
		t.Errorf("RestartOnly: %v, want %v", got, want)
	}
	if got := RestartOnly(old, old); len(got) != 0 {
		t.Errorf("RestartOnly of one configuration: %v", got)
	}
}

// TestCheckerProblemsNameFileAndLine has a package's check find a problem
// config cannot see, told with file and line among config's own.
func TestCheckerProblemsNameFileAndLine(t *testing.T) {
	file := filepath.Join(t.TempDir(), "dnsward.yaml")
	if err := os.WriteFile(file, []byte("cache:\n  size: 0\nupstreams:\n  - udp://127.0.0.1:53\n  - bogus://x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	Flags(fs)
	if err := fs.Parse([]string{"--config", file}); err != nil {
		t.Fatal(err)
	}
	checker := func(c *Config) []Problem {
		if c.Upstreams[1] != "bogus://x" {
			t.Errorf("checker got upstreams %v", c.Upstreams)
		}
		return []Problem{{Key: "upstreams.1", Err: errors.New("unknown scheme")}}
	}
	_, err := Load(fs, checker)
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{file + ":2: cache.size: must be at least 1", file + ":5: upstreams.1: unknown scheme"}
	if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, want) {
		t.Errorf("errors %q, want %q", got, want)
	}
}
