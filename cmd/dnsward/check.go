package main

import (
	"context"
	"fmt"
	"io"
)

func runCheckConfig(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if _, _, err := loadConfig("check-config", args, stderr); err != nil {
		return err
	}
	_, err := fmt.Fprintln(stdout, "configuration OK")
	return err
}
