// Command dnsward is a LAN DNS resolver: it answers clients, caches, blocks
// listed domains, forwards over DNSCrypt and logs every query and answer.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"
)

// version is set at build time by -ldflags "-X main.version=...".
var version = "dev"

// command is one subcommand.
type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "answer DNS (the default when no command is given)", runServe},
		{"check-config", "validate the configuration and exit", runCheckConfig},
		{"version", "print the version", func(_ context.Context, _ []string, stdout, _ io.Writer) error {
			_, err := fmt.Fprintln(stdout, "dnsward", version)
			return err
		}},
	}
}

// errUsage marks an error already explained by the flag package.
var errUsage = errors.New("usage")

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	name := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		name, args = args[0], args[1:]
	}
	for _, c := range commands() {
		if c.name == name {
			err := c.run(ctx, args, stdout, stderr)
			switch {
			case err == nil, errors.Is(err, pflag.ErrHelp):
				return 0
			case errors.Is(err, errUsage):
				return 2
			default:
				fmt.Fprintf(stderr, "dnsward %s: %v\n", name, err)
				return 1
			}
		}
	}
	fmt.Fprintf(stderr, "dnsward: unknown command %q\n\nCommands:\n", name)
	for _, c := range commands() {
		fmt.Fprintf(stderr, "  %-14s %s\n", c.name, c.summary)
	}
	return 2
}

// flagSet makes a subcommand's flag set that reports errors on stderr.
func flagSet(name string, stderr io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet("dnsward "+name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	return fs
}

// parse parses args, turning a flag error into errUsage (already printed).
func parse(fs *pflag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		fmt.Fprintf(fs.Output(), "%v\n\n%s", err, fs.FlagUsages())
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	return nil
}
