package main

import (
	"context"
	"fmt"
	"io"
)

func runCheckConfig(_ context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, _, err := loadConfig("check-config", args, stderr)
	if err != nil {
		return err
	}
	if err := printForwardedReverse(stdout, cfg); err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, "configuration OK")
	return err
}
