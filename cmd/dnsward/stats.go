package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/dnsward/dnsward/engine"
)

// runStats prints the running server's live figures, read from its
// metrics listener: the same numbers Prometheus sees.
func runStats(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagSet("stats", stderr)
	configFlags(fs, "config", "metrics")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := engine.Load(fs)
	if err != nil {
		return err
	}
	if cfg.Metrics.Listen == "" {
		return fmt.Errorf("metrics.listen is not set: the server publishes no figures (give the address serve got with --metrics)")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	host := cfg.Metrics.Listen
	if strings.HasPrefix(host, ":") {
		host = "127.0.0.1" + host
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/metrics", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("is dnsward running? %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("metrics: %s", resp.Status)
	}
	// dnsward's own series, without histogram buckets: one figure a line.
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "dnsward_") && !strings.Contains(line, "_bucket{") {
			fmt.Fprintln(stdout, line)
		}
	}
	return sc.Err()
}
