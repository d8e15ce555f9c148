package main

import (
	"context"
	"fmt"
	"io"

	"github.com/dnsward/dnsward/engine"
)

// runCheckConfig validates the configuration more strictly than serve
// (blocklist files must exist) and says what it merged.
func runCheckConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, err := parseConfigFlags("check-config", args, stderr)
	if err != nil {
		return err
	}
	cfg, notes, err := engine.Check(ctx, fs)
	if err != nil {
		return err
	}
	for _, n := range notes {
		if _, err := fmt.Fprintln(stdout, n); err != nil {
			return err
		}
	}
	if err := printForwardedReverse(stdout, cfg); err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, "configuration OK")
	return err
}
