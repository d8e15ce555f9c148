package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dnsward/dnsward/config"
	"github.com/dnsward/dnsward/testserver"
	"github.com/miekg/dns"
	"github.com/spf13/pflag"
)

// TestImportDnsmasq converts a real-looking dnsmasq.conf, checks the result
// with check-config, serves it and asks what dnsmasq would have answered.
func TestImportDnsmasq(t *testing.T) {
	t.Parallel()
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
	confDir, err := filepath.Abs("testdata/dnsmasq.d")
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.NewReplacer("@PUBLIC@", strings.Replace(public.PlainAddr, ":", "#", 1),
		"@OFFICE@", strings.Replace(office.PlainAddr, ":", "#", 1),
		"@HOSTS@", hosts, "@LEASES@", leases, "@CONFDIR@", confDir).Replace(string(sample))
	confFile := filepath.Join(dir, "dnsmasq.conf")
	os.WriteFile(confFile, []byte(conf), 0o644)

	var out, stderr bytes.Buffer
	if code := run(context.Background(), []string{"import-dnsmasq", confFile}, &out, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"interface=eth0: no dnsward equivalent", "dhcp-range: dnsward is not a DHCP server",
		"address=/router.lan/192.168.1.1: dnsmasq also answers subdomains",
		"ipset=/vpn.example.test/vpn4,vpn6: not carried over: dnsward has no ipset support"} {
		if !strings.Contains(out.String(), want) || !strings.Contains(stderr.String(), want) {
			t.Errorf("not-carried-over list lacks %q:\n%s", want, out.String())
		}
	}
	for _, avoid := range []string{"expand-hosts", "read-me-option"} {
		if strings.Contains(stderr.String(), avoid) {
			t.Errorf("not-carried-over list has %q:\n%s", avoid, stderr.String())
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
		{"tv.lan.", dns.TypeA, dns.RcodeSuccess, "192.168.1.30"},
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
		// Imported records carry local.ttl (60s), as hosts and leases do.
		if strings.HasSuffix(tt.name, ".lan.") && len(r.Answer) > 0 && r.Answer[0].Header().Ttl != 60 {
			t.Errorf("%s: TTL %d, want local.ttl 60", tt.name, r.Answer[0].Header().Ttl)
		}
		if r.Rcode != tt.rcode || got != tt.answer {
			t.Errorf("%s: rcode %s answer %q, want %s %q", tt.name, dns.RcodeToString[r.Rcode], got, dns.RcodeToString[tt.rcode], tt.answer)
		}
	}
	if office.Queries("mail.example.test.") != 1 || public.Queries("mail.example.test.") != 0 {
		t.Errorf("server=/example.test/ not honoured: office %d public %d", office.Queries("mail.example.test."), public.Queries("mail.example.test."))
	}
}

// TestImportDnsmasqIncludes follows conf-dir (with dnsmasq's extension
// filters and skipped names) and conf-file, in dnsmasq's order.
func TestImportDnsmasqIncludes(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"a/10.conf": "address=/a10.test/192.0.2.1\n",
		"a/20.bak":  "address=/a20.test/192.0.2.2\n",
		"a/30.txt":  "address=/a30.test/192.0.2.3\n",
		"a/.hidden": "address=/hidden.test/192.0.2.9\n",
		"a/old~":    "address=/old.test/192.0.2.9\n",
		"a/#edit#":  "address=/edit.test/192.0.2.9\n",
		"b/1.conf":  "address=/b1.test/192.0.2.4\n",
		"b/2.txt":   "address=/b2.test/192.0.2.9\n",
		"extra":     "address=/extra.test/192.0.2.6\n",
		"main.conf": fmt.Sprintf("conf-dir=%s/a,.bak\nconf-dir=%s/b,*.conf\nconf-file=%s/extra\n", dir, dir, dir),
		"loop.conf": fmt.Sprintf("conf-file=%s/loop.conf\n", dir),
		"gone.conf": fmt.Sprintf("\nconf-dir=%s/nonexistent\n", dir),
	}
	os.Mkdir(filepath.Join(dir, "a"), 0o755)
	os.Mkdir(filepath.Join(dir, "b"), 0o755)
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, _, err := convertDnsmasq(filepath.Join(dir, "main.conf"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a10.test. 60 IN A 192.0.2.1", "a30.test. 60 IN A 192.0.2.3", "b1.test. 60 IN A 192.0.2.4", "extra.test. 60 IN A 192.0.2.6"}
	if !slices.Equal(cfg.Local.Records, want) {
		t.Errorf("records %q, want %q", cfg.Local.Records, want)
	}
	for file, want := range map[string]string{"loop.conf": "loop.conf:1: " + dir + "/loop.conf: included from itself",
		"gone.conf": "gone.conf:2: open " + dir + "/nonexistent: no such file"} {
		if _, _, err := convertDnsmasq(filepath.Join(dir, file)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", file, err, want)
		}
	}
}

// TestImportDnsmasqOptions checks the options whose dnsward form depends on
// others: the block answer, dhcp-host names, local-ttl, expand-hosts.
func TestImportDnsmasqOptions(t *testing.T) {
	tests := []struct {
		conf      string
		records   []string
		response  string
		note, not string
	}{
		{conf: "address=/ads.test/0.0.0.0\naddress=/v6.test/::\naddress=/null.test/#\n", response: "null", not: "NXDOMAIN"},
		{conf: "address=/ads.test/0.0.0.0\naddress=/nx.test/\n", response: "", note: "c.conf:1) are answered NXDOMAIN, not 0.0.0.0"},
		{conf: "domain=lan\nexpand-hosts\ndhcp-host=aa:bb:cc:dd:ee:ff,set:tv,192.168.1.30,tv,12h\ndhcp-host=11:22:33:44:55:66,192.168.1.31,gone,ignore\n" +
			"dhcp-host=22:22:33:44:55:66,[fd00::40],nas.lan,infinite\n",
			records: []string{"tv. 60 IN A 192.168.1.30", "tv.lan. 60 IN A 192.168.1.30", "nas.lan. 60 IN AAAA fd00::40"},
			note:    "c.conf:3: dhcp-host: tv 192.168.1.30 answered as a local record", not: "expand-hosts"},
		{conf: "local-ttl=300\nhost-record=nas.lan,192.168.1.10\nhost-record=tv.lan,192.168.1.11,30\ncname=files.lan,nas.lan\n",
			records: []string{"nas.lan. 300 IN A 192.168.1.10", "tv.lan. 30 IN A 192.168.1.11", "files.lan. 300 IN CNAME nas.lan."}},
	}
	for _, tt := range tests {
		file := filepath.Join(t.TempDir(), "c.conf")
		os.WriteFile(file, []byte(tt.conf), 0o644)
		cfg, notes, err := convertDnsmasq(file)
		if err != nil {
			t.Fatal(err)
		}
		all := strings.Join(notes, "\n")
		if !slices.Equal(cfg.Local.Records, tt.records) || cfg.Blocklists.Response != tt.response ||
			!strings.Contains(all, tt.note) || (tt.not != "" && strings.Contains(all, tt.not)) {
			t.Errorf("%q: records %q response %q, notes:\n%s\nwant records %q response %q, a note with %q and none with %q",
				tt.conf, cfg.Local.Records, cfg.Blocklists.Response, all, tt.records, tt.response, tt.note, tt.not)
		}
	}
}

// TestImportDnsmasqNftset converts nftset= lines into nftset.rules that
// the configuration accepts, and lists those it cannot carry over.
func TestImportDnsmasqNftset(t *testing.T) {
	tests := []struct {
		conf  string
		rules []importedNftRule
		note  string
	}{
		{conf: "nftset=/example.com/.example.net/4#inet#filter#allow4,6#inet#filter#allow6\n",
			rules: []importedNftRule{{Domains: []string{"example.com", "example.net"}, Sets: []string{"inet filter allow4", "inet filter allow6"}}},
			note:  "c.conf:1: nftset=/example.com/.example.net/4#inet#filter#allow4,6#inet#filter#allow6: the 4# and 6# restrictions are implied"},
		{conf: "nftset=/a.test/fw#egress\nnftset=/b.test/ip6#fw#egress6,inet#fw#all\n",
			rules: []importedNftRule{{Domains: []string{"a.test"}, Sets: []string{"ip fw egress"}},
				{Domains: []string{"b.test"}, Sets: []string{"ip6 fw egress6", "inet fw all"}}}},
		{conf: "nftset=/a.test/4#bridge#fw#s\n", note: "c.conf:1: nftset=/a.test/4#bridge#fw#s: not carried over: \"bridge#fw#s\" is not"},
		{conf: "nftset=/a.test/fw\n", note: "nftset=/a.test/fw: not carried over: \"fw\" is not [(4|6)#][family#]table#set"},
		{conf: "nftset=/#/inet#fw#all\n", note: "nftset=/#/inet#fw#all: not carried over: dnsward has no rule for every domain"},
		{conf: "nftset=inet#fw#all\n", note: "nftset=inet#fw#all: not carried over: dnsward needs the domains"},
		{conf: "ipset=/a.test/s4,s6\n", note: "c.conf:1: ipset=/a.test/s4,s6: not carried over: dnsward has no ipset support (ipset is the legacy"},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		file := filepath.Join(dir, "c.conf")
		os.WriteFile(file, []byte(tt.conf), 0o644)
		var out, stderr bytes.Buffer
		if code := run(context.Background(), []string{"import-dnsmasq", file}, &out, &stderr); code != 0 {
			t.Fatalf("%q: exit %d: %s", tt.conf, code, stderr.String())
		}
		cfg, notes, err := convertDnsmasq(file)
		if err != nil {
			t.Fatal(err)
		}
		all := strings.Join(notes, "\n")
		// Three notes are always there: domain-needed, bogus-priv and
		// stop-dns-rebind were off.
		if !reflect.DeepEqual(cfg.NftSet.Rules, tt.rules) || !strings.Contains(all, tt.note) || (tt.note == "") != (len(notes) == 3) {
			t.Errorf("%q: rules %q, notes:\n%s\nwant rules %q and a note with %q", tt.conf, cfg.NftSet.Rules, all, tt.rules, tt.note)
		}
		// The rules are written as the configuration takes them.
		yamlFile := filepath.Join(dir, "dnsward.yaml")
		os.WriteFile(yamlFile, out.Bytes(), 0o600)
		fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
		config.Flags(fs)
		fs.Parse([]string{"--config", yamlFile})
		loaded, err := config.Load(fs)
		if err != nil {
			t.Fatalf("%q: converted configuration rejected: %v\n%s", tt.conf, err, out.String())
		}
		if len(loaded.NftSet.Rules) != len(tt.rules) {
			t.Errorf("%q: %d rules loaded, want %d:\n%s", tt.conf, len(loaded.NftSet.Rules), len(tt.rules), out.String())
		}
	}
}
