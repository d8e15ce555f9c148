package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/dnsward/dnsward/config"
	"github.com/dnsward/dnsward/nftset"
)

// nftsetOpenTimeout bounds looking up every configured set at start.
const nftsetOpenTimeout = 5 * time.Second

// newFeeder opens the nftables sets that nftset.rules name, checking that
// each exists and holds addresses, or returns nil when there are no rules.
// An error names the set, and says how to grant what is missing.
func newFeeder(cfg *config.Config, logger *slog.Logger) (*nftset.Feeder, error) {
	if len(cfg.NftSet.Rules) == 0 {
		return nil, nil
	}
	opts, err := nftset.FromConfig(cfg.NftSet, cfg.Answers.Grace)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), nftsetOpenTimeout)
	defer cancel()
	f, err := nftset.New(ctx, opts, logger)
	switch {
	case err == nil:
		return f, nil
	case errors.Is(err, os.ErrPermission):
		return nil, fmt.Errorf("%w (nftset.rules need CAP_NET_ADMIN; under systemd, add it with a drop-in: see README, Egress by name)", err)
	case errors.Is(err, syscall.EAFNOSUPPORT):
		return nil, fmt.Errorf("%w (nftset.rules need AF_NETLINK; under systemd, allow it in RestrictAddressFamilies: see README, Egress by name)", err)
	}
	return nil, err
}

// setFeeder is an nftset.Feeder as the pipeline's resolver.SetFeeder.
type setFeeder struct{ *nftset.Feeder }

// Covers says whether an nftset rule covers name; it does not allocate.
func (f setFeeder) Covers(name string) bool { return f.Sets(name) != nil }

// closeFeeder closes the nftset feeder, if there is one, once no query can
// use it any more.
func (e *Engine) closeFeeder() {
	if e.nftset == nil {
		return
	}
	if err := e.nftset.Close(); err != nil {
		e.logger.Warn("nftset: closing", "err", err)
	}
}
