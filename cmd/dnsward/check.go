package main

import (
	"context"
	"fmt"
	"io"

	"github.com/dnsward/dnsward/config"
)

func runCheckConfig(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagSet("check-config", stderr)
	config.Flags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if _, err := config.Load(fs); err != nil {
		return err
	}
	_, err := fmt.Fprintln(stdout, "configuration OK")
	return err
}
