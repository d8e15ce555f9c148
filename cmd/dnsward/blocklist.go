package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"time"

	"github.com/dnsward/dnsward/config"
	"github.com/miekg/dns"
)

// runBlocklist is "dnsward blocklist test NAME...": whether each name is
// blocked, and by which list and rule, under the configured lists, for a
// client given by --client (the lists of the groups it is in count too).
func runBlocklist(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagSet("blocklist test", stderr)
	config.Flags(fs)
	clientFlag := fs.String("client", "", "client `address`, for the lists of its groups (blocklists.groups)")
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
	var client netip.Addr
	if *clientFlag != "" {
		if client, err = netip.ParseAddr(*clientFlag); err != nil {
			return fmt.Errorf("--client: %w", err)
		}
	}
	set, err := newBlockSet(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	// URL lists are only on disk once downloaded; fetch what is missing so
	// the answer matches what serve would do.
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := set.Reload(ctx); err != nil {
		fmt.Fprintf(stderr, "warning: %v\n", err)
	}
	for _, name := range fs.Args() {
		match, blocked := set.stage().Match(dns.Fqdn(name), client.Unmap())
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
