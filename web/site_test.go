package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dnsward/dnsward/config"
	"github.com/dnsward/dnsward/engine"
	"github.com/dnsward/dnsward/resolver"
	"github.com/dnsward/dnsward/testserver"
	"github.com/miekg/dns"
	"github.com/spf13/pflag"
)

// site is a dnsward serving DNS and its page on loopback, its upstream
// the in-repo test resolver.
type site struct {
	dns    string // host:port of the DNS listener
	syslog string // host:port of the syslog flow source, with flowsYAML
	url    string // the page's base URL, ending in /
	dir    string
}

// baseYAML blocks ads.example.test and its subdomains by a rule of the
// "config" list, but for ok.ads.example.test, which an exception spares.
const baseYAML = "listen: [\"127.0.0.1:0\"]\nupstreams: [%q]\nquerylog:\n  file: %q\nlocal:\n  hosts_files: []\n" +
	"blocklists:\n  rules: [ads.example.test, \"@@||ok.ads.example.test^\"]\nweb:\n%s"

// loadConfig writes the configuration and loads it as serve does; extra
// follows the line "web:", so indented it sets web keys.
func loadConfig(t *testing.T, dir, upstream, extra string) (*config.Config, *pflag.FlagSet, error) {
	t.Helper()
	file := filepath.Join(dir, "dnsward.yaml")
	if err := os.WriteFile(file, fmt.Appendf(nil, baseYAML, upstream, filepath.Join(dir, "queries.log"), extra), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	config.Flags(fs)
	if err := fs.Parse([]string{"--config", file}); err != nil {
		t.Fatal(err)
	}
	cfg, err := engine.Load(fs)
	return cfg, fs, err
}

// startSite starts dnsward with its page on 127.0.0.1 and extra
// configuration keys (indented: web keys), and stops it when the test ends.
func startSite(t *testing.T, extra string) *site {
	t.Helper()
	dir := t.TempDir()
	ts := testserver.ForTest(t)
	syslog := ""
	if strings.Contains(extra, flowsYAML) {
		// Picked, then freed for dnsward: the source does not say which
		// port a :0 got outside the engine.
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		syslog = pc.LocalAddr().String()
		pc.Close()
		extra = strings.Replace(extra, flowsYAML, fmt.Sprintf(flowsYAML+"    udp: %s\n", syslog), 1)
	}
	cfg, fs, err := loadConfig(t, dir, ts.PlainUDP(), "  listen: 127.0.0.1:0\n"+extra)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(cfg, engine.Options{Load: func() (*config.Config, error) { return engine.Load(fs) }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	listeners, err := resolver.Listen(cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { listeners.Close() })
	wl, err := net.Listen("tcp", cfg.Web.Listen)
	if err != nil {
		t.Fatal(err)
	}
	e.ServeWeb(wl)
	ctx, stop := context.WithCancel(context.Background())
	if err := e.Start(ctx, listeners, nil); err != nil {
		stop()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.Serve(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return &site{dns: listeners.UDP[0].LocalAddr().String(), syslog: syslog, url: "http://" + wl.Addr().String() + "/", dir: dir}
}

// flowsYAML turns the syslog flow source on, on a port startSite picks.
const flowsYAML = "flows:\n  clients: [127.0.0.0/8]\n  syslog:\n    senders: [127.0.0.0/8]\n"

// firewall sends the site's syslog flow source a firewall's drop lines,
// each "SRC=... DST=... PROTO=... SPT=... DPT=...".
func (s *site) firewall(t *testing.T, lines ...string) {
	t.Helper()
	c, err := net.Dial("udp", s.syslog)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, l := range lines {
		if _, err := fmt.Fprintf(c, "<4>Dec  1 12:00:01 gw kernel: drop IN=eth1 OUT=eth0 %s", l); err != nil {
			t.Fatal(err)
		}
	}
}

// ask asks name's A record from 127.0.0.1 and returns the rcode.
func (s *site) ask(t *testing.T, name string) string {
	t.Helper()
	resp, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(new(dns.Msg).SetQuestion(dns.Fqdn(name), dns.TypeA), s.dns)
	if err != nil {
		t.Fatal(err)
	}
	return dns.RcodeToString[resp.Rcode]
}

// get fetches path with the given Authorization header (none if empty).
func (s *site) get(t *testing.T, path, auth string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}
