package engine

import (
	"io"
	"log/slog"

	"github.com/dnsward/dnsward/config"
	"github.com/dnsward/dnsward/querylog"
	"github.com/dnsward/dnsward/resolver"
	"github.com/dnsward/dnsward/web"
	"github.com/spf13/pflag"
)

// checks are the engine packages' own checks of their configuration parts.
var checks = []config.Checker{resolver.ConfigProblems, querylog.ConfigProblems, web.ConfigProblems}

// Load is config.Load with the engine packages' checks: a configuration it
// returns builds.
func Load(fs *pflag.FlagSet) (*config.Config, error) {
	return config.Load(fs, checks...)
}

// Check is config.Check with the engine packages' checks, for check-config.
func Check(fs *pflag.FlagSet) (*config.Config, []string, error) {
	return config.Check(fs, checks...)
}

// NewLogger builds the program's own log on w, as the log section says.
func NewLogger(l config.Log, w io.Writer) *slog.Logger {
	lvl, _ := l.SlogLevel()
	opts := &slog.HandlerOptions{Level: lvl}
	if l.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
