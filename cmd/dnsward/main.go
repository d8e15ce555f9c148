// Command dnsward is a LAN DNS resolver: it answers clients, caches, blocks
// listed domains, forwards over DNSCrypt and logs every query and answer.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/dnsward/dnsward/config"
	"github.com/dnsward/dnsward/engine"
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
		{"serve", "answer DNS, and serve the read-only web page with --web (the default when no command is given)", runServe},
		{"check-config", "validate the configuration, blocklist files and nftables sets too, and exit", runCheckConfig},
		{"import-dnsmasq", "print a dnsward configuration equivalent to a dnsmasq.conf", runImportDnsmasq},
		{"querylog", "querylog export|who: filter and convert the log; who asked for a name behind an IP", runQueryLog},
		{"who", "who IP: which clients the running server gave IP, for which names, until when", runWho},
		{"flows", "per client, the destinations the query log's flow records show, unexplained first", runFlows},
		{"stats", "print the running server's live figures (needs metrics.listen)", runStats},
		{"blocklist", "blocklist test NAME...: is NAME blocked, by which list and rule", runBlocklist},
		{"version", "print the version", runVersion},
	}
}

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagSet("version", stderr)
	fs.Usage = func() { printUsage(fs, "") }
	if err := parse(fs, args); err != nil {
		return err
	}
	_, err := fmt.Fprintln(stdout, "dnsward", version)
	return err
}

// errUsage marks an error already explained by the flag package.
var errUsage = errors.New("usage")

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	name := "serve"
	switch {
	case len(args) > 0 && (args[0] == "--version" || args[0] == "-V"):
		name, args = "version", args[1:]
	case len(args) > 0 && (args[0] == "help" || args[0] == "--help" || args[0] == "-h"):
		usage(stdout)
		return 0
	case len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-':
		name, args = args[0], args[1:]
	}
	for _, c := range commands() {
		if c.name == name {
			if helpAsked(args) {
				// Help is output asked for, so it goes to stdout; the
				// flag package prints it once and returns ErrHelp.
				stderr = stdout
			}
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
	fmt.Fprintf(stderr, "dnsward: unknown command %q\n\n", name)
	usage(stderr)
	return 2
}

// usage lists the commands; each command's --help lists its flags.
func usage(w io.Writer) {
	fmt.Fprint(w, "Usage: dnsward [command] [flags]\n\n"+
		"dnsward is a LAN DNS resolver: it answers clients over UDP and TCP, caches,\n"+
		"blocks listed domains, forwards over DNSCrypt and logs every query and answer.\n\n"+
		"Commands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun 'dnsward COMMAND --help' for a command's flags.\n")
}

// helpAsked is whether args hold -h or --help before any "--".
func helpAsked(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "--help":
			return true
		}
	}
	return false
}

// flagSet makes a subcommand's flag set that reports errors on stderr;
// its usage, printed on --help, names the command and lists its flags.
func flagSet(name string, stderr io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet("dnsward "+name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	fs.Usage = func() { printUsage(fs, "[flags]") }
	return fs
}

// printUsage prints "Usage: dnsward NAME SYNOPSIS" and fs's flags.
func printUsage(fs *pflag.FlagSet, synopsis string) {
	fmt.Fprintln(fs.Output(), strings.TrimSpace("Usage: "+fs.Name()+" "+synopsis))
	if fs.HasFlags() {
		fmt.Fprintf(fs.Output(), "\nFlags:\n%s", fs.FlagUsages())
	}
}

// configFlags adds only the named flags of config.Flags to fs, so that a
// command's --help lists the flags it reads and no others.
func configFlags(fs *pflag.FlagSet, names ...string) {
	all := pflag.NewFlagSet("", pflag.ContinueOnError)
	config.Flags(all)
	for _, name := range names {
		fs.AddFlag(all.Lookup(name))
	}
}

// loadConfig parses a subcommand's configuration flags from args and loads
// the configuration they name; the flag set is returned to load it again.
func loadConfig(name string, args []string, stderr io.Writer) (*config.Config, *pflag.FlagSet, error) {
	fs, err := parseConfigFlags(name, args, stderr)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := engine.Load(fs)
	return cfg, fs, err
}

// parseConfigFlags parses a subcommand's configuration flags from args.
func parseConfigFlags(name string, args []string, stderr io.Writer) (*pflag.FlagSet, error) {
	fs := flagSet(name, stderr)
	config.Flags(fs)
	return fs, parse(fs, args)
}

// parse parses args, turning a flag error into errUsage (already printed);
// positional arguments are refused.
func parse(fs *pflag.FlagSet, args []string) error {
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	return nil
}

// parseFlags parses args, turning a flag error into errUsage (already
// printed) and passing pflag.ErrHelp (usage already printed) through.
func parseFlags(fs *pflag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		fmt.Fprintf(fs.Output(), "%v\n\n%s", err, fs.FlagUsages())
		return errUsage
	}
	return nil
}
