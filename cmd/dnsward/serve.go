package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/dnsward/dnsward/config"
	"github.com/dnsward/dnsward/resolver"
	"github.com/dnsward/dnsward/upstream"
)

func runServe(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := flagSet("serve", stderr)
	config.Flags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(fs)
	if err != nil {
		return err
	}
	logger := cfg.Log.Logger(os.Stderr)
	var ups []upstream.Upstream
	for _, raw := range cfg.Upstreams {
		u, err := upstream.Parse(raw, cfg.UpstreamTimeout)
		if err != nil {
			return err
		}
		ups = append(ups, u)
	}
	clients, err := cfg.Clients()
	if err != nil {
		return err
	}
	pipeline, err := resolver.NewPipeline(resolver.Config{
		Allowed:   clients,
		Upstreams: ups,
		Attempt:   cfg.UpstreamTimeout,
		Timeout:   cfg.QueryTimeout,
		Cache: resolver.CacheConfig{
			Size: cfg.Cache.Size, MinTTL: cfg.Cache.MinTTL, MaxTTL: cfg.Cache.MaxTTL,
			NegativeMaxTTL: cfg.Cache.NegativeMaxTTL,
		},
	})
	if err != nil {
		return err
	}
	listeners, err := resolver.Listen(cfg.Listen)
	if err != nil {
		return err
	}
	defer listeners.Close()
	if err := dropPrivileges(cfg.User, logger); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	logger.Info("serving", "listen", cfg.Listen, "upstreams", len(ups), "version", version)
	srv := &resolver.Server{Pipeline: pipeline, Logger: logger}
	if err := srv.Serve(ctx, listeners); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	hits, misses, entries := pipeline.Cache.Stats()
	logger.Info("stopped", "cache_hits", hits, "cache_misses", misses, "cache_entries", entries)
	return nil
}

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
