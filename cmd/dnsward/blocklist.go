package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"time"

	"github.com/dnsward/dnsward/config"
	"github.com/dnsward/dnsward/engine"
	"github.com/miekg/dns"
	"github.com/spf13/pflag"
)

// runBlocklist is "dnsward blocklist test NAME...": whether each name is
// blocked, and by which list and rule, under the configured lists, for a
// client given by --client (the lists of the groups it is in count too).
func runBlocklist(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagSet("blocklist test", stderr)
	configFlags(fs, "config", "blocklist")
	clientFlag := fs.String("client", "", "client `address`, for the lists of its groups (blocklists.groups)")
	fs.Usage = func() { printUsage(fs, "[flags] NAME...") }
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		fs.Usage()
		return pflag.ErrHelp
	}
	if len(args) == 0 || args[0] != "test" {
		fs.Usage()
		return errUsage
	}
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errUsage
	}
	cfg, err := engine.Load(fs)
	if err != nil {
		return err
	}
	var client netip.Addr
	if *clientFlag != "" {
		if client, err = netip.ParseAddr(*clientFlag); err != nil {
			return fmt.Errorf("--client: %w", err)
		}
	}
	// serve would run on without a missing list file, but a test against
	// it would answer "not blocked" for what the list was meant to block.
	if err := openLists(cfg); err != nil {
		return err
	}
	set, err := engine.NewBlockSet(cfg, slog.New(slog.DiscardHandler))
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
		match, blocked := set.Match(dns.Fqdn(name), client.Unmap())
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

// openLists checks that every list file (not URL) of cfg can be opened.
func openLists(cfg *config.Config) error {
	for _, bc := range engine.BlockConfigs(cfg) {
		for _, src := range bc.Sources {
			if src.URL != "" || src.Path == "" {
				continue
			}
			f, err := os.Open(src.Path)
			if err != nil {
				return fmt.Errorf("list %q: %w", src.Name, err)
			}
			f.Close()
		}
	}
	return nil
}
