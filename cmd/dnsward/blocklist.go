package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/dnsward/dnsward/blocklists"
	"github.com/dnsward/dnsward/config"
)

// runBlocklist is "dnsward blocklist test NAME...": whether each name is
// blocked, and by which list and rule, under the configured lists.
func runBlocklist(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagSet("blocklist test", stderr)
	config.Flags(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: dnsward blocklist test [flags] NAME...\n\n%s", fs.FlagUsages())
	}
	if len(args) == 0 || args[0] != "test" {
		fs.Usage()
		return errUsage
	}
	if err := fs.Parse(args[1:]); err != nil {
		fmt.Fprintln(stderr, err)
		return errUsage
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errUsage
	}
	cfg, err := config.Load(fs)
	if err != nil {
		return err
	}
	m, err := blocklists.New(blocklistConfig(cfg), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return err
	}
	// URL lists are only on disk once downloaded; fetch what is missing so
	// the answer matches what serve would do.
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := m.Reload(ctx); err != nil {
		fmt.Fprintf(stderr, "warning: %v\n", err)
	}
	for _, name := range fs.Args() {
		match, blocked := m.Blocked(name)
		switch {
		case blocked:
			fmt.Fprintf(stdout, "%s: blocked by list %q, rule %q\n", name, match.List, match.Rule)
		case match.List != "":
			fmt.Fprintf(stdout, "%s: allowed by list %q, rule %q\n", name, match.List, match.Rule)
		default:
			fmt.Fprintf(stdout, "%s: not blocked\n", name)
		}
	}
	return nil
}
