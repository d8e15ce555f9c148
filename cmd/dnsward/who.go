package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"strings"
	"time"

	"github.com/dnsward/dnsward/engine"
	"github.com/dnsward/dnsward/querylog"
	"github.com/spf13/pflag"
)

// packageControlSocket is the Debian package's control.socket, asked when
// the configuration names none.
const packageControlSocket = "/run/dnsward/control.sock"

// whoTimeout bounds the whole ask: the server answers in milliseconds.
const whoTimeout = 10 * time.Second

// runWho is "dnsward who IP": the running server's answer index, asked
// over its control socket, printed as querylog who prints the log's.
func runWho(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flagSet("who", stderr)
	configFlags(flags, "config", "control")
	at := flags.String("at", "", "only answers valid at `time` (first asked <= time <= valid until): "+whenForms)
	client := flags.String("client", "", "only the client at `address`")
	flags.Usage = func() { printUsage(flags, "IP [flags]") }
	if err := parseFlags(flags, args); err != nil {
		return err
	}
	if flags.NArg() != 1 {
		return fmt.Errorf("who takes one IP address")
	}
	ip, err := netip.ParseAddr(flags.Arg(0))
	if err != nil {
		return fmt.Errorf("%s: not an IP address", flags.Arg(0))
	}
	when, err := parseWhen(*at, time.Now())
	if err != nil {
		return fmt.Errorf("--at: %w", err)
	}
	var from netip.Addr
	if *client != "" {
		if from, err = netip.ParseAddr(*client); err != nil {
			return fmt.Errorf("--client %q: want the client's address (the index is kept by address)", *client)
		}
	}
	socket, err := controlSocket(flags)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, whoTimeout)
	defer cancel()
	entries, err := engine.AskWho(ctx, socket, ip, from, when)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: is dnsward running with control.socket set? Give its socket with --control PATH or its configuration with --config FILE", err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: the socket is for root and the service user's group", err)
	case err != nil:
		return err
	}
	rows := make([]querylog.WhoRow, len(entries))
	for i, e := range entries {
		rows[i] = querylog.WhoRow{First: e.FirstAsked, Last: e.LastAsked, ValidUntil: e.ValidUntil, Client: e.Client.String(),
			MAC: e.MAC, Host: e.Host, QName: e.Name, Chain: strings.Join(append([]string{e.Name}, e.Chain...), " > ")}
	}
	return querylog.WriteWho(stdout, rows)
}

// controlSocket is --control, else the configuration's control.socket,
// else the Debian package's.
func controlSocket(flags *pflag.FlagSet) (string, error) {
	cfg, err := engine.Load(flags)
	if err != nil {
		return "", err
	}
	return cmp.Or(cfg.Control.Socket, packageControlSocket), nil
}
