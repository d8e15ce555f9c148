package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/dnsward/dnsward/config"
	"github.com/dnsward/dnsward/nftset"
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

// kernelCheckTimeout bounds check-config's questions to the kernel.
const kernelCheckTimeout = 5 * time.Second

// Check is config.Check with the engine packages' checks, for check-config,
// and what only the running system can say: that the nftables sets named
// exist and can take addresses (noted as not checked without
// CAP_NET_ADMIN).
func Check(ctx context.Context, fs *pflag.FlagSet) (*config.Config, []string, error) {
	ctx, cancel := context.WithTimeout(ctx, kernelCheckTimeout)
	defer cancel()
	var unchecked error
	kernel := func(c *config.Config) []config.Problem {
		ps, err := nftset.KernelProblems(ctx, c.NftSet, 0)
		unchecked = err
		return ps
	}
	cfg, notes, err := config.Check(fs, append(slices.Clone(checks), kernel)...)
	if err == nil && unchecked != nil {
		notes = append(notes, fmt.Sprintf("nftset: the sets were not looked up in the kernel (%v): run check-config as root to check them", unchecked))
	}
	return cfg, notes, err
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
