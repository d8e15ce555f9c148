package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dnsward/dnsward/testserver"
	"github.com/miekg/dns"
)

func TestStatsAndHealth(t *testing.T) {
	t.Parallel()
	ts := testserver.ForTest(t)
	cmd := exec.Command(binary(t), "serve", "--listen", "127.0.0.1:0", "--upstream", ts.Stamp, "--metrics", "127.0.0.1:0")
	_, addr, metricsAddr := startServing(t, cmd)
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	c := &dns.Client{Timeout: 2 * time.Second}
	for _, name := range []string{"mail.example.test.", "mail.example.test.", "teredo.ipv6.microsoft.com."} {
		if _, _, err := c.Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), addr); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.Get("http://" + metricsAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "ok" {
		t.Errorf("healthz: %s %q", resp.Status, body)
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"stats", "--metrics", metricsAddr}, &out, &out); code != 0 {
		t.Fatalf("stats: %s", out.String())
	}
	for _, want := range []string{
		`dnsward_queries_total{rcode="NOERROR",source="cache",type="A"} 1`,
		`dnsward_queries_total{rcode="NXDOMAIN",source="blocked",type="A"} 1`,
		`dnsward_blocked_total{list="config"} 1`,
		`dnsward_cache_hits_total `,
		`dnsward_upstream_up{upstream="dnscrypt://2.dnscrypt-cert.dnsward.test@` + ts.CryptAddr + `"} 1`,
		`dnsward_querylog_queue_depth `,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stats lack %q:\n%s", want, out.String())
		}
	}
}
