package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/dnsward/dnsward/answers"
	"github.com/dnsward/dnsward/config"
	"github.com/dnsward/dnsward/engine"
	"github.com/dnsward/dnsward/querylog"
	"github.com/spf13/pflag"
)

// runQueryLog is "dnsward querylog export|who": the log read back for an
// analyst or a one-off hand-off to a collector.
func runQueryLog(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "Usage:\n" +
		"  dnsward querylog export [--from FILE...] [--since T] [--until T] [--client CIDR|MAC|HOST] [--domain SUFFIX] [--format json|kv]\n" +
		"  dnsward querylog who IP [--from FILE...] [--at T] [--grace D] [--client CIDR|MAC|HOST]\n" +
		"Without --from, the configured query log and its rotated files (FILE.1, FILE.2.gz, ...) are read, oldest first.\n"
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		// Both subcommands' flags, so that the man page has them too.
		fmt.Fprint(stderr, usage)
		for _, sub := range []string{"export", "who"} {
			fmt.Fprintln(stderr)
			fs, _ := queryLogFlags(sub, stderr)
			fs.Usage()
		}
		return pflag.ErrHelp
	}
	if len(args) == 0 || (args[0] != "export" && args[0] != "who") {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	sub, args := args[0], args[1:]
	fs, opts := queryLogFlags(sub, stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	from, since, until, domain, format := opts.from, opts.since, opts.until, opts.domain, opts.format
	files, err := logFiles(fs, *from)
	if err != nil {
		return err
	}
	client, err := parseClient(*opts.client)
	if err != nil {
		return fmt.Errorf("--client: %w", err)
	}
	now := time.Now()
	if sub == "who" {
		if fs.NArg() != 1 {
			return fmt.Errorf("who takes one IP address")
		}
		q := querylog.WhoQuery{Client: client, Grace: *opts.grace}
		if q.IP, err = netip.ParseAddr(fs.Arg(0)); err != nil {
			return fmt.Errorf("%s: not an IP address", fs.Arg(0))
		}
		if q.At, err = parseWhen(*opts.at, now); err != nil {
			return fmt.Errorf("--at: %w", err)
		}
		if q.Grace < 0 {
			return fmt.Errorf("--grace %s: must not be negative", q.Grace)
		}
		return querylog.Who(ctx, stdout, files, q)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	f := querylog.Filter{Client: client, Domain: *domain}
	if f.Since, f.Until, err = parseSpan(*since, *until, now); err != nil {
		return err
	}
	if *format != querylog.FormatJSON && *format != querylog.FormatKV {
		return fmt.Errorf("--format %q: want json or kv", *format)
	}
	return querylog.Export(ctx, stdout, files, f, *format)
}

// queryLogOpts is the flags of querylog export and who; the ones of the
// other subcommand are nil.
type queryLogOpts struct {
	from                             *[]string
	client                           *string
	since, until, domain, format, at *string
	grace                            *time.Duration
}

// queryLogFlags makes the flag set of "querylog export" or "querylog who".
func queryLogFlags(sub string, stderr io.Writer) (*pflag.FlagSet, queryLogOpts) {
	fs := flagSet("querylog "+sub, stderr)
	configFlags(fs, "config", "querylog")
	o := queryLogOpts{from: fs.StringArray("from", nil, "log `file` to read, plain or gzipped (repeatable)")}
	o.client = fs.String("client", "", "only the `client`: an address, a CIDR, a MAC (aa:bb:cc:dd:ee:ff) or a hostname (client_mac, client_host)")
	if sub == "who" {
		o.at = fs.String("at", "", "only answers valid at `time` (first asked <= time <= valid until): "+whenForms)
		o.grace = fs.Duration("grace", answers.DefaultGrace, "added to each answer's TTL for its valid-until time, as clients keep using addresses past TTL")
		fs.Usage = func() { printUsage(fs, "IP [flags]") }
		return fs, o
	}
	o.since = fs.String("since", "", "only records at or after `time`: "+whenForms)
	o.until = fs.String("until", "", "only records before `time`: "+whenForms)
	o.domain = fs.String("domain", "", "only questions under `suffix`")
	o.format = fs.String("format", querylog.FormatJSON, "output `format`: json or kv")
	return fs, o
}

// parseClient reads --client: an address or CIDR, a MAC, or a hostname;
// "" matches every client.
func parseClient(s string) (querylog.ClientMatch, error) {
	var c querylog.ClientMatch
	switch {
	case s == "":
		return c, nil
	case strings.ContainsAny(s, "./") && strings.Trim(s, "0123456789./") == "",
		strings.Contains(s, ":") && !isMAC(s):
		p, err := config.ParsePrefix(s)
		c.Prefix = p
		return c, err
	case isMAC(s):
		var err error
		c.MAC, err = answers.ParseMAC(s)
		return c, err
	case isHostname(s):
		c.Host = s
		return c, nil
	}
	return c, fmt.Errorf("%q: want an address, a CIDR (192.168.0.0/16), a MAC (aa:bb:cc:dd:ee:ff) or a hostname", s)
}

// isMAC reports whether s has the form aa:bb:cc:dd:ee:ff (or with dashes).
func isMAC(s string) bool {
	if len(s) != 17 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if i%3 == 2 {
			if c != ':' && c != '-' {
				return false
			}
		} else if !strings.ContainsRune("0123456789abcdefABCDEF", rune(c)) {
			return false
		}
	}
	return true
}

// isHostname reports whether s is a DNS name of letters, digits, hyphens
// and dots, as DHCP clients give.
func isHostname(s string) bool {
	if len(s) > 253 || strings.Trim(s, ".") == "" {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || strings.Trim(label, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
			return false
		}
	}
	return true
}

// logFiles is --from, or else the configured log with its rotated siblings,
// oldest first, so output runs in time order.
func logFiles(fs *pflag.FlagSet, from []string) ([]string, error) {
	if len(from) > 0 {
		return from, nil
	}
	cfg, err := engine.Load(fs)
	if err != nil {
		return nil, err
	}
	if cfg.QueryLog.File == "" {
		return nil, fmt.Errorf("no query log file configured: give --from FILE")
	}
	return querylog.Files(cfg.QueryLog.File), nil
}

// whenForms is what parseWhen accepts, for --help and its errors.
const whenForms = "RFC 3339 (2024-05-01T13:00:00Z), a local date (2024-05-01) or a time ago (30m, 1h, 2d)"

// parseWhen reads a --since/--until time, relative times counted back
// from now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, now.Location()); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.ParseUint(days, 10, 16); err == nil {
			return now.AddDate(0, 0, -int(n)), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q: want %s", s, whenForms)
}
