package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dnsward/dnsward/testserver"
	"github.com/miekg/dns"
)

// TestImportDnsmasq converts a real-looking dnsmasq.conf, checks the result
// with check-config, serves it and asks what dnsmasq would have answered.
func TestImportDnsmasq(t *testing.T) {
	public, office := testserver.ForTest(t), testserver.ForTest(t)
	dir := t.TempDir()
	hosts := filepath.Join(dir, "hosts")
	leases := filepath.Join(dir, "dnsmasq.leases")
	os.WriteFile(hosts, []byte("192.168.1.20 printer\n"), 0o644)
	os.WriteFile(leases, []byte(fmt.Sprintf("%d aa:bb:cc:dd:ee:ff 192.168.1.77 laptop *\n", time.Now().Add(time.Hour).Unix())), 0o644)
	sample, err := os.ReadFile("testdata/dnsmasq.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.NewReplacer("@PUBLIC@", strings.Replace(public.PlainAddr, ":", "#", 1),
		"@OFFICE@", strings.Replace(office.PlainAddr, ":", "#", 1),
		"@HOSTS@", hosts, "@LEASES@", leases).Replace(string(sample))
	confFile := filepath.Join(dir, "dnsmasq.conf")
	os.WriteFile(confFile, []byte(conf), 0o644)

	var out, stderr bytes.Buffer
	if code := run(context.Background(), []string{"import-dnsmasq", confFile}, &out, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"interface=eth0: no dnsward equivalent", "dhcp-range: dnsward is not a DHCP server",
		"address=/router.lan/192.168.1.1: dnsmasq also answers subdomains"} {
		if !strings.Contains(out.String(), want) || !strings.Contains(stderr.String(), want) {
			t.Errorf("not-carried-over list lacks %q:\n%s", want, out.String())
		}
	}
	yamlFile := filepath.Join(dir, "dnsward.yaml")
	os.WriteFile(yamlFile, out.Bytes(), 0o600)
	var check bytes.Buffer
	if code := run(context.Background(), []string{"check-config", "--config", yamlFile}, &check, &check); code != 0 {
		t.Fatalf("converted config rejected: %s\n%s", check.String(), out.String())
	}

	if !strings.Contains(out.String(), "- 127.0.0.1:5353\n") {
		t.Errorf("listen-address and port not carried over:\n%s", out.String())
	}
	// The imported listen address is replaced by one the kernel picks.
	cmd := exec.Command(binary(t), "serve", "--config", yamlFile, "--listen", "127.0.0.1:0")
	_, addr, _ := startServing(t, cmd)
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	c := &dns.Client{Timeout: 2 * time.Second}
	ask := func(name string, qtype uint16) *dns.Msg {
		t.Helper()
		r, _, err := c.Exchange(new(dns.Msg).SetQuestion(name, qtype), addr)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return r
	}
	tests := []struct {
		name   string
		qtype  uint16
		rcode  int
		answer string
	}{
		{"router.lan.", dns.TypeA, dns.RcodeSuccess, "192.168.1.1"},
		{"nas.lan.", dns.TypeAAAA, dns.RcodeSuccess, "fd00::10"},
		{"files.lan.", dns.TypeA, dns.RcodeSuccess, "192.168.1.10"},
		{"printer.lan.", dns.TypeA, dns.RcodeSuccess, "192.168.1.20"},
		{"laptop.lan.", dns.TypeA, dns.RcodeSuccess, "192.168.1.77"},
		{"other.lan.", dns.TypeA, dns.RcodeNameError, ""},
		{"teredo.ipv6.microsoft.com.", dns.TypeA, dns.RcodeNameError, ""},
		{"mail.example.test.", dns.TypeA, dns.RcodeSuccess, "192.0.2.25"},
		{"tracker.ads.test.", dns.TypeA, dns.RcodeSuccess, "192.0.2.66"},
	}
	for _, tt := range tests {
		r := ask(tt.name, tt.qtype)
		got := ""
		if len(r.Answer) > 0 {
			last := r.Answer[len(r.Answer)-1]
			got = strings.TrimPrefix(last.String(), last.Header().String())
		}
		if r.Rcode != tt.rcode || got != tt.answer {
			t.Errorf("%s: rcode %s answer %q, want %s %q", tt.name, dns.RcodeToString[r.Rcode], got, dns.RcodeToString[tt.rcode], tt.answer)
		}
	}
	if office.Queries("mail.example.test.") != 1 || public.Queries("mail.example.test.") != 0 {
		t.Errorf("server=/example.test/ not honoured: office %d public %d", office.Queries("mail.example.test."), public.Queries("mail.example.test."))
	}
}
