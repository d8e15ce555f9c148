package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// imported is the part of the configuration a dnsmasq.conf can set; empty
// fields keep dnsward's defaults.
type imported struct {
	Listen    []string `yaml:"listen,omitempty"`
	Upstreams []string `yaml:"upstreams,omitempty"`
	Cache     struct {
		Size   int    `yaml:"size,omitempty"`
		MinTTL string `yaml:"min_ttl,omitempty"`
		MaxTTL string `yaml:"max_ttl,omitempty"`
	} `yaml:"cache,omitempty"`
	Local struct {
		HostsFiles   []string `yaml:"hosts_files,omitempty"`
		LeasesFiles  []string `yaml:"leases_files,omitempty"`
		Records      []string `yaml:"records,omitempty"`
		Domain       string   `yaml:"domain,omitempty"`
		Domains      []string `yaml:"domains,omitempty"`
		DomainNeeded bool     `yaml:"domain_needed"`
		BogusPriv    bool     `yaml:"bogus_priv"`
	} `yaml:"local"`
	ForwardZones []importedZone `yaml:"forward_zones,omitempty"`
	Rebind       struct {
		Enabled bool     `yaml:"enabled"`
		Allow   []string `yaml:"allow,omitempty"`
	} `yaml:"rebind_protection"`
	Blocklists struct {
		Rules []string `yaml:"rules,omitempty"`
	} `yaml:"blocklists,omitempty"`
}

type importedZone struct {
	Domain    string   `yaml:"domain"`
	Upstreams []string `yaml:"upstreams"`
}

// runImportDnsmasq prints a dnsward configuration equivalent to a
// dnsmasq.conf, and lists what it could not carry over.
func runImportDnsmasq(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagSet("import-dnsmasq", stderr)
	fs.Usage = func() { fmt.Fprintf(stderr, "Usage: dnsward import-dnsmasq /etc/dnsmasq.conf > dnsward.yaml\n") }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		fmt.Fprintln(stderr, err)
		fs.Usage()
		return errUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	file := fs.Arg(0)
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	cfg, notes, err := convertDnsmasq(file, f)
	if err != nil {
		return err
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "# dnsward configuration converted from %s by 'dnsward import-dnsmasq'.\n", file)
	fmt.Fprintf(stdout, "# Keys not given here keep the defaults documented in dnsward.yaml.\n")
	if len(notes) > 0 {
		fmt.Fprintf(stdout, "#\n# Not carried over, or carried over differently:\n")
		for _, n := range notes {
			fmt.Fprintf(stdout, "#   %s\n", n)
		}
		fmt.Fprintf(stderr, "%d dnsmasq option(s) not carried over exactly; they are listed at the top of the output:\n", len(notes))
		for _, n := range notes {
			fmt.Fprintf(stderr, "  %s\n", n)
		}
	}
	_, err = stdout.Write(append([]byte("\n"), out...))
	return err
}

// convertDnsmasq reads dnsmasq.conf options (dnsmasq's own syntax:
// "option=value" or a bare "option", '#' comments).
func convertDnsmasq(file string, r io.Reader) (*imported, []string, error) {
	cfg := &imported{}
	cfg.Local.HostsFiles = []string{"/etc/hosts"}
	var notes []string
	note := func(n int, format string, args ...any) {
		notes = append(notes, fmt.Sprintf("%s:%d: ", file, n)+fmt.Sprintf(format, args...))
	}
	port := "53"
	var listenAddrs []string
	domainNeeded, bogusPriv, dhcp := false, false, false
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, _ := strings.Cut(line, "=")
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch key {
		case "domain-needed":
			domainNeeded = true
		case "bogus-priv":
			bogusPriv = true
		case "stop-dns-rebind":
			cfg.Rebind.Enabled = true
		case "rebind-domain-ok":
			cfg.Rebind.Allow = append(cfg.Rebind.Allow, slashList(val)...)
		case "no-hosts":
			cfg.Local.HostsFiles = nil
		case "addn-hosts":
			cfg.Local.HostsFiles = append(cfg.Local.HostsFiles, val)
		case "dhcp-leasefile":
			cfg.Local.LeasesFiles = append(cfg.Local.LeasesFiles, val)
		case "domain":
			domain, rest, _ := strings.Cut(val, ",")
			cfg.Local.Domain = domain
			if rest != "" {
				note(n, "domain=%s: per-range domains are not supported; %s applies to all names", val, domain)
			}
		case "local":
			cfg.Local.Domains = append(cfg.Local.Domains, slashList(val)...)
		case "server":
			if err := addServer(cfg, val); err != nil {
				note(n, "server=%s: %v", val, err)
			}
		case "address":
			if records, err := addAddress(cfg, val); err != nil {
				note(n, "address=%s: %v", val, err)
			} else if records {
				note(n, "address=%s: dnsmasq also answers subdomains of the name; dnsward answers the name only", val)
			}
		case "host-record":
			if err := addHostRecord(cfg, val); err != nil {
				note(n, "host-record=%s: %v", val, err)
			}
		case "cname":
			if err := addCNAME(cfg, val); err != nil {
				note(n, "cname=%s: %v", val, err)
			}
		case "listen-address":
			listenAddrs = append(listenAddrs, strings.Split(val, ",")...)
		case "port":
			port = val
		case "cache-size":
			size, err := strconv.Atoi(val)
			if err != nil {
				note(n, "cache-size=%s: not a number", val)
				continue
			}
			cfg.Cache.Size = max(size, 1)
		case "min-cache-ttl":
			cfg.Cache.MinTTL = val + "s"
		case "max-cache-ttl":
			cfg.Cache.MaxTTL = val + "s"
		case "log-queries":
			note(n, "log-queries: dnsward always writes its query log (see the querylog section)")
		case "no-resolv", "resolv-file":
			note(n, "%s: dnsward reads no resolv.conf; its upstreams are listed under upstreams", key)
		case "dhcp-range", "dhcp-host", "dhcp-option", "dhcp-authoritative", "dhcp-boot", "enable-ra":
			dhcp = true
			note(n, "%s: dnsward is not a DHCP server; keep dnsmasq (with port=0) or another DHCP server for it", key)
		default:
			note(n, "%s: no dnsward equivalent", line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", file, err)
	}
	if dhcp && len(cfg.Local.LeasesFiles) == 0 {
		cfg.Local.LeasesFiles = []string{"/var/lib/misc/dnsmasq.leases"}
	}
	if port != "0" {
		if len(listenAddrs) == 0 {
			listenAddrs = []string{""}
		}
		for _, a := range listenAddrs {
			cfg.Listen = append(cfg.Listen, net.JoinHostPort(a, port))
		}
	}
	// dnsward's safer defaults stay on; say so where dnsmasq had them off.
	cfg.Local.DomainNeeded, cfg.Local.BogusPriv = true, true
	if !domainNeeded {
		notes = append(notes, "domain-needed was off in dnsmasq; dnsward keeps single-label names local (local.domain_needed)")
	}
	if !bogusPriv {
		notes = append(notes, "bogus-priv was off in dnsmasq; dnsward answers private reverse lookups locally (local.bogus_priv)")
	}
	if !cfg.Rebind.Enabled {
		cfg.Rebind.Enabled = true
		notes = append(notes, "stop-dns-rebind was off in dnsmasq; dnsward keeps rebinding protection on (rebind_protection.enabled)")
	}
	return cfg, notes, nil
}

// slashList splits dnsmasq's "/a/b/" domain lists.
func slashList(v string) []string {
	var out []string
	for d := range strings.SplitSeq(v, "/") {
		if d != "" {
			out = append(out, d)
		}
	}
	return out
}

// dnsmasqUpstream turns "addr[#port]" into a udp:// URL.
func dnsmasqUpstream(v string) (string, error) {
	host, port, _ := strings.Cut(v, "#")
	if port == "" {
		port = "53"
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return "", fmt.Errorf("%q is not an IP address", host)
	}
	return "udp://" + net.JoinHostPort(host, port), nil
}

// addServer handles server=addr and server=/domain/.../addr.
func addServer(cfg *imported, v string) error {
	if !strings.HasPrefix(v, "/") {
		up, err := dnsmasqUpstream(v)
		if err != nil {
			return err
		}
		cfg.Upstreams = append(cfg.Upstreams, up)
		return nil
	}
	i := strings.LastIndex(v, "/")
	domains, target := slashList(v[:i]), v[i+1:]
	if target == "" || target == "#" {
		// server=/lan/ means "answer from local data only".
		cfg.Local.Domains = append(cfg.Local.Domains, domains...)
		return nil
	}
	up, err := dnsmasqUpstream(target)
	if err != nil {
		return err
	}
	for _, d := range domains {
		cfg.ForwardZones = append(cfg.ForwardZones, importedZone{Domain: d, Upstreams: []string{up}})
	}
	return nil
}

// addAddress handles address=/name/ (a block, subdomains included) and
// address=/name/ip (a local record), reporting which it added.
func addAddress(cfg *imported, v string) (records bool, err error) {
	i := strings.LastIndex(v, "/")
	if !strings.HasPrefix(v, "/") || i == 0 {
		return false, fmt.Errorf("want /name/address")
	}
	names, target := slashList(v[:i]), v[i+1:]
	if target == "" || target == "#" || target == "0.0.0.0" || target == "::" {
		cfg.Blocklists.Rules = append(cfg.Blocklists.Rules, names...)
		return false, nil
	}
	ip, err := netip.ParseAddr(target)
	if err != nil {
		return false, fmt.Errorf("%q is not an IP address", target)
	}
	for _, name := range names {
		cfg.Local.Records = append(cfg.Local.Records, addressRecord(name, ip, ""))
	}
	return true, nil
}

func addressRecord(name string, ip netip.Addr, ttl string) string {
	t := "A"
	if ip.Is6() {
		t = "AAAA"
	}
	return strings.Join(strings.Fields(fmt.Sprintf("%s. %s IN %s %s", strings.TrimSuffix(name, "."), ttl, t, ip)), " ")
}

// addHostRecord handles host-record=name[,name...],ipv4[,ipv6][,ttl].
func addHostRecord(cfg *imported, v string) error {
	var names []string
	var ips []netip.Addr
	ttl := ""
	for _, f := range strings.Split(v, ",") {
		if ip, err := netip.ParseAddr(f); err == nil {
			ips = append(ips, ip)
		} else if _, err := strconv.Atoi(f); err == nil {
			ttl = f
		} else {
			names = append(names, f)
		}
	}
	if len(names) == 0 || len(ips) == 0 {
		return fmt.Errorf("want name,address")
	}
	for _, name := range names {
		for _, ip := range ips {
			cfg.Local.Records = append(cfg.Local.Records, addressRecord(name, ip, ttl))
		}
	}
	return nil
}

// addCNAME handles cname=alias[,alias...],target[,ttl].
func addCNAME(cfg *imported, v string) error {
	fields := strings.Split(v, ",")
	ttl := ""
	if _, err := strconv.Atoi(fields[len(fields)-1]); err == nil && len(fields) > 2 {
		ttl, fields = fields[len(fields)-1], fields[:len(fields)-1]
	}
	if len(fields) < 2 {
		return fmt.Errorf("want alias,target")
	}
	target := strings.TrimSuffix(fields[len(fields)-1], ".") + "."
	for _, alias := range fields[:len(fields)-1] {
		rec := strings.Join(strings.Fields(fmt.Sprintf("%s. %s IN CNAME %s", strings.TrimSuffix(alias, "."), ttl, target)), " ")
		cfg.Local.Records = append(cfg.Local.Records, rec)
	}
	return nil
}
