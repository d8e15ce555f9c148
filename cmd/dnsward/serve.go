package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"

	"github.com/dnsward/dnsward/config"
	"github.com/dnsward/dnsward/engine"
	"github.com/dnsward/dnsward/resolver"
)

// runServe builds the engine, binds its sockets, drops privileges and
// serves until SIGTERM or SIGINT; SIGHUP reloads, SIGUSR1 reopens the log.
func runServe(ctx context.Context, args []string, _, stderr io.Writer) error {
	cfg, fs, err := loadConfig("serve", args, stderr)
	if err != nil {
		return err
	}
	floor := tuneCollector()
	defer runtime.KeepAlive(floor)
	logger := engine.NewLogger(cfg.Log, os.Stderr)
	e, err := engine.New(cfg, engine.Options{
		Load:    func() (*config.Config, error) { return engine.Load(fs) },
		Logger:  logger,
		Version: version,
	})
	if err != nil {
		return err
	}
	listeners, err := resolver.Listen(cfg.Listen)
	if err != nil {
		return err
	}
	defer listeners.Close()
	var metricsListener net.Listener
	if cfg.Metrics.Listen != "" {
		if metricsListener, err = net.Listen("tcp", cfg.Metrics.Listen); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		defer metricsListener.Close()
	}
	if cfg.Web.Listen != "" {
		webListener, err := net.Listen("tcp", cfg.Web.Listen)
		if err != nil {
			return fmt.Errorf("web: %w", err)
		}
		defer webListener.Close()
		e.ServeWeb(webListener)
	}
	if err := dropPrivileges(cfg.User, logger); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// Taken over before Start says "serving", when a reload may come.
	loops, cancel := context.WithCancel(ctx)
	hangups := onSignal(syscall.SIGHUP, func() { e.Reload(loops) })
	reopens := onSignal(syscall.SIGUSR1, func() {
		if err := e.ReopenLog(); err != nil {
			logger.Error("query log reopen", "err", err)
			return
		}
		// Said once per rotation, so an admin sees that logrotate's
		// postrotate reached dnsward.
		logger.Info("SIGUSR1: query log reopened")
	})
	if err := e.Start(ctx, listeners, metricsListener); err != nil {
		cancel()
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	// Deferred after wg.Wait, so it runs before it: the signal loops end
	// when serving does, however it ends.
	defer cancel()
	wg.Go(func() { hangups(loops) })
	wg.Go(func() { reopens(loops) })

	if err := notifyReady(); err != nil {
		logger.Warn("readiness not reported", "err", err)
	}
	return e.Serve(ctx)
}

// onSignal takes over sig at once and returns the loop that calls f for
// every sig until its context is done. Go's default for SIGHUP ends the
// process, and for SIGUSR1 drops the signal, so sig is taken over before
// the server answers, when a reload or a log rotation may already come, and
// stays taken over while the server drains its queries and the query log:
// after the loop, a sig fills ch, or is dropped. The loop does not end with
// signal.Ignore: the runtime stops handling sig before it installs SIG_IGN,
// and a sig in between met the kernel's default, which ends the process.
func onSignal(sig os.Signal, f func()) func(context.Context) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sig)
	return func(ctx context.Context) {
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				f()
			}
		}
	}
}
