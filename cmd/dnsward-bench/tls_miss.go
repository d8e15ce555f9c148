package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dnsward/dnsward/internal/tlsunbound"
)

// The DoT and DoH rows' dnsward instances, as the tables name them.
const (
	dotUpstream = "DoT to unbound"
	dohUpstream = "DoH to unbound"
)

// tlsMiss is one cache-miss run of a dnsward forwarding over DoT or DoH to
// unbound, which forwards to the test resolver over plain DNS.
type tlsMiss struct {
	Run *runStats
	// Upstream is dnsward's upstreams entry, its port and pin replaced by
	// placeholders.
	Upstream string
	// PeerCPU is unbound's CPU time over the run; PeerGap says why it
	// could not be read.
	PeerCPU time.Duration
	PeerGap string
}

// tlsUnbound is unbound serving DoT and DoH.
type tlsUnbound struct {
	*server
	dotAddr, dohAddr string
	pin              string // of its certificate's CA
}

// startTLSUnbound starts unbound as a DoT and DoH server with a
// throwaway certificate, forwarding to upstreamPort over plain DNS.
func (l *lab) startTLSUnbound(ctx context.Context, upstreamPort, threads int) (*tlsUnbound, error) {
	dir, ports, err := l.instance("unbound-tls", 2)
	if err != nil {
		return nil, err
	}
	ca, _, err := tlsunbound.MakeCerts(dir)
	if err != nil {
		return nil, err
	}
	log := filepath.Join(dir, "unbound.log")
	conf, err := tlsunbound.Config(tlsunbound.Options{Dir: dir, TLSPort: ports[0], HTTPSPort: ports[1], Threads: threads,
		Forward: fmt.Sprintf("127.0.0.1:%d", upstreamPort), LogFile: log})
	if err != nil {
		return nil, err
	}
	confFile := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	if out, err := runBounded(ctx, 10*time.Second, "unbound-checkconf", confFile); err != nil {
		return nil, fmt.Errorf("unbound-checkconf %s: %w: %s", confFile, err, out)
	}
	u := &tlsUnbound{server: &server{name: "unbound", logFile: log}}
	if u.proc, err = l.fleet.start("unbound", nil, nil, "unbound", "-d", "-c", confFile); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	u.dotAddr, u.dohAddr, u.pin = fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1]), tlsunbound.SPKI(ca)
	if err := tlsunbound.WaitListening(wctx, u.proc.done, u.dotAddr, u.dohAddr); err != nil {
		return u, fmt.Errorf("%w (log %s)", err, log)
	}
	return u, nil
}

// tlsMissPhase runs table 2's cache misses again through a dnsward that
// forwards over DoT, then one over DoH, each to a fresh unbound serving
// them and forwarding to ts over plain DNS.
func (b *bench) tlsMissPhase(ctx context.Context, ts *server) error {
	b.step("workload 2a: cache misses over DoT and DoH to unbound, no upstream delay")
	for _, variant := range []string{dotUpstream, dohUpstream} {
		if err := ctx.Err(); err != nil {
			return err
		}
		m, err := b.tlsMissRun(ctx, ts, variant)
		if err != nil {
			return err
		}
		b.res.missTLS = append(b.res.missTLS, m)
	}
	return nil
}

// tlsMissRun is one of tlsMissPhase's runs, its servers stopped after it.
func (b *bench) tlsMissRun(ctx context.Context, ts *server, variant string) (*tlsMiss, error) {
	ub, err := b.lab.startTLSUnbound(ctx, ts.port, b.opts.threads)
	if ub != nil {
		defer b.stopAll(ub.server)
	}
	if err != nil {
		return nil, err
	}
	m := &tlsMiss{Upstream: tlsUpstream(variant, "127.0.0.1:PORT", "127.0.0.1:PORT", "PIN")}
	dw, err := b.lab.startDnsward(ctx, dnswardOpts{upstream: tlsUpstream(variant, ub.dotAddr, ub.dohAddr, ub.pin), cacheSize: b.opts.cacheSize()})
	defer b.stopAll(dw)
	if err != nil {
		return nil, err
	}
	spec := b.spec(dw.port, b.miss)
	spec.MaxRuns = 1
	before, berr := cpuTime(ub.proc.pid())
	m.Run = measure(ctx, dw, ts, variant, spec)
	after, aerr := cpuTime(ub.proc.pid())
	if berr != nil || aerr != nil {
		m.PeerGap = fmt.Sprintf("unbound's CPU: %v", cmpErr(berr, aerr))
		m.Run.gaps("around the run", []string{m.PeerGap})
	} else {
		// unbound is part of what is measured, not other work.
		m.PeerCPU = after - before
		m.Run.OtherCPU = max(0, m.Run.OtherCPU-m.PeerCPU)
	}
	names := sample(int(m.Run.Perf.Sent), 20, func(i int) string { return uniqueName("miss", i) })
	if err := spotCheck(ctx, dw.port, names); err != nil {
		m.Run.problem("spot check after the run: %v", err)
	}
	b.record("cache misses", m.Run)
	return m, nil
}

// cmpErr is the first of the errors that is not nil.
func cmpErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// tlsUpstream is dnsward's upstreams entry for variant: unbound's DoT
// or DoH address, its certificate's name and pin.
func tlsUpstream(variant, dotAddr, dohAddr, pin string) string {
	tail := "?pin=" + pin + "#" + tlsunbound.CertName
	if variant == dohUpstream {
		return "https://" + dohAddr + "/dns-query" + tail
	}
	return "tls://" + dotAddr + tail
}

// tlsMissSection writes the DoT and DoH rows beside table 2's DNSCrypt
// row (dnscrypt, nil when it was not measured).
func tlsMissSection(b *strings.Builder, rows []*tlsMiss, dnscrypt *runStats, tmp string) {
	fmt.Fprintf(b, "## 2a. Cache misses over DoT and DoH, no upstream delay\n\n")
	b.WriteString("Table 2's distinct names sent once to a fresh dnsward forwarding over DNS-over-TLS, then to one over DNS-over-HTTPS (HTTP/2), each to a fresh unbound serving DoT (`tls-port`) and DoH (`https-port`, `/dns-query`) on loopback with a throwaway certificate (the upstream's `?pin=` and `#name`), itself forwarding to the test resolver over plain DNS (`tlsunbound.Config`, `num-threads` as above, `incoming-num-tcp: 1024`). ")
	b.WriteString("The peer is unbound doing TLS, HTTP/2 and a cache-miss forward: its CPU is part of each answer's cost and shown apart; the DNSCrypt row is table 2's, whose peer is the test resolver itself.\n\n")
	if len(rows) == 0 {
		b.WriteString("Not measured in this run.\n\n")
		return
	}
	b.WriteString("| dnsward's upstream | qps | qps ÷ DNSCrypt row | avg ms | sent | lost | not NOERROR | CPU µs per answer: dnsward / unbound / test resolver | CPU %: dnsward / dnsperf (busiest thread) / test resolver / other; unbound | kernel drops |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---|---|---|---|\n")
	if dnscrypt != nil {
		p := dnscrypt.Perf
		fmt.Fprintf(b, "| DNSCrypt, the test resolver (table 2) | %s | 1.00× | %s | %s | %s | %s | %s | %s; — | %s |\n",
			thousands(int64(math.Round(p.QPS))), ms(p.AvgLatency), thousands(p.Sent), thousands(p.Lost), orDash(p.OtherRCodes()),
			threeWay(dnscrypt, -1), dnscrypt.cpuCell(), dnscrypt.dropsCell())
	}
	for _, m := range rows {
		r, p := m.Run, m.Run.Perf
		peer := "—"
		if m.PeerGap == "" {
			peer = fmt.Sprintf("%.0f", r.cpuPct(m.PeerCPU))
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s; %s | %s |\n", r.Variant,
			thousands(int64(math.Round(p.QPS))), ratio(p.QPS, qps(dnscrypt)), ms(p.AvgLatency), thousands(p.Sent), thousands(p.Lost),
			orDash(p.OtherRCodes()), threeWay(r, m.PeerCPU), r.cpuCell(), peer, r.dropsCell())
	}
	b.WriteString("\n```\n")
	for _, m := range rows {
		fmt.Fprintf(b, "%-28s upstreams: [%q]; %s\n", m.Run.Variant+":", m.Upstream, m.Run.Spec.command(tmp))
	}
	b.WriteString("```\n\n")
}

// threeWay is the CPU µs per answer "dnsward / unbound / test resolver";
// peer below zero when there is no unbound between.
func threeWay(r *runStats, peer time.Duration) string {
	if len(r.Gaps) > 0 {
		return unread
	}
	if r.Perf.Completed == 0 {
		return "—"
	}
	per := func(cpu time.Duration) string {
		return fmt.Sprintf("%.0f", float64(cpu.Microseconds())/float64(r.Perf.Completed))
	}
	mid := "—"
	if peer >= 0 {
		mid = per(peer)
	}
	return per(r.ServerCPU) + " / " + mid + " / " + per(r.UpstreamCPU)
}
