package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dnsward/dnsward/config"
	"github.com/dnsward/dnsward/packaging"
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
		TTL          string   `yaml:"ttl,omitempty"`
		DomainNeeded bool     `yaml:"domain_needed"`
		BogusPriv    bool     `yaml:"bogus_priv"`
	} `yaml:"local"`
	ForwardZones []importedZone `yaml:"forward_zones,omitempty"`
	Rebind       struct {
		Enabled bool     `yaml:"enabled"`
		Allow   []string `yaml:"allow,omitempty"`
	} `yaml:"rebind_protection"`
	Blocklists struct {
		Response string   `yaml:"response,omitempty"`
		Rules    []string `yaml:"rules,omitempty"`
	} `yaml:"blocklists,omitempty"`
	NftSet struct {
		Rules []importedNftRule `yaml:"rules,omitempty"`
	} `yaml:"nftset,omitempty"`
}

type importedNftRule struct {
	Domains []string `yaml:"domains,flow"`
	Sets    []string `yaml:"sets,flow"`
}

type importedZone struct {
	Domain    string   `yaml:"domain"`
	Upstreams []string `yaml:"upstreams"`
}

// runImportDnsmasq prints a dnsward configuration equivalent to a
// dnsmasq.conf, and lists what it could not carry over.
func runImportDnsmasq(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagSet("import-dnsmasq", stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: dnsward import-dnsmasq /etc/dnsmasq.conf > dnsward.yaml\n"+
			"conf-file and conf-dir lines are followed, as dnsmasq does.\n")
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	file := fs.Arg(0)
	cfg, notes, err := convertDnsmasq(file)
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

// defaultLocalTTL is local.ttl of the embedded configuration, in seconds:
// imported records carry it, as a zone-file line without a TTL gets 3600.
func defaultLocalTTL() (string, error) {
	var d struct {
		Local struct {
			TTL time.Duration `yaml:"ttl"`
		} `yaml:"local"`
	}
	if err := yaml.Unmarshal(packaging.DefaultConfig, &d); err != nil {
		return "", fmt.Errorf("embedded config: %w", err)
	}
	return strconv.Itoa(int(d.Local.TTL / time.Second)), nil
}

// maxIncludeDepth bounds conf-file and conf-dir nesting; dnsmasq has no
// limit, but a deeper chain is a loop through differently named paths.
const maxIncludeDepth = 16

// dnsmasqImport is the state of one conversion, across included files.
type dnsmasqImport struct {
	cfg                                        *imported
	notes                                      []string
	port                                       string
	listenAddrs                                []string
	domainNeeded, bogusPriv, dhcp, expandHosts bool
	domainAt                                   string // file:line of domain=, for its note
	ttl                                        string // local-ttl=, or dnsward's local.ttl
	hosts                                      []dhcpHost
	nullBlocks, nxBlocks                       []string        // file:line of address= blocks, by the answer dnsmasq gave
	reading                                    map[string]bool // files being read, against include loops
}

// dhcpHost is a dhcp-host line's name and address.
type dhcpHost struct {
	name string
	ip   netip.Addr
}

// convertDnsmasq reads a dnsmasq.conf and the files it includes
// (dnsmasq's own syntax: "option=value" or a bare "option", '#' comments).
func convertDnsmasq(file string) (*imported, []string, error) {
	ttl, err := defaultLocalTTL()
	if err != nil {
		return nil, nil, err
	}
	c := &dnsmasqImport{cfg: &imported{}, port: "53", ttl: ttl, reading: map[string]bool{}}
	c.cfg.Local.HostsFiles = []string{"/etc/hosts"}
	if err := c.readFile(file, 0); err != nil {
		return nil, nil, err
	}
	c.finish()
	return c.cfg, c.notes, nil
}

func (c *dnsmasqImport) note(at, format string, args ...any) {
	c.notes = append(c.notes, at+": "+fmt.Sprintf(format, args...))
}

// readFile reads one configuration file; depth counts the includes that
// led to it.
func (c *dnsmasqImport) readFile(file string, depth int) error {
	abs, err := filepath.Abs(file)
	if err != nil {
		return err
	}
	if c.reading[abs] {
		return fmt.Errorf("%s: included from itself", file)
	}
	if depth > maxIncludeDepth {
		return fmt.Errorf("%s: includes nested deeper than %d", file, maxIncludeDepth)
	}
	c.reading[abs] = true
	defer delete(c.reading, abs)
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		at := fmt.Sprintf("%s:%d", file, n)
		if err := c.option(at, line, depth); err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// option converts one line; only a file it includes that cannot be read
// is an error, as dnsmasq refuses to start then.
func (c *dnsmasqImport) option(at, line string, depth int) error {
	cfg := c.cfg
	key, val, _ := strings.Cut(line, "=")
	key, val = strings.TrimSpace(key), strings.TrimSpace(val)
	switch key {
	case "conf-file":
		if val != "" {
			return c.readFile(val, depth+1)
		}
	case "conf-dir":
		return c.readDir(val, depth+1)
	case "domain-needed":
		c.domainNeeded = true
	case "bogus-priv":
		c.bogusPriv = true
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
		cfg.Local.Domain, c.domainAt = domain, at
		if rest != "" {
			c.note(at, "domain=%s: per-range domains are not supported; %s applies to all names", val, domain)
		}
	case "expand-hosts":
		c.expandHosts = true
	case "local-ttl":
		if _, err := strconv.ParseUint(val, 10, 32); err != nil {
			c.note(at, "local-ttl=%s: not a number", val)
			break
		}
		c.ttl, cfg.Local.TTL = val, val+"s"
	case "local":
		cfg.Local.Domains = append(cfg.Local.Domains, slashList(val)...)
	case "server":
		if err := addServer(cfg, val); err != nil {
			c.note(at, "server=%s: %v", val, err)
		}
	case "address":
		c.address(at, val)
	case "host-record":
		if err := addHostRecord(cfg, val, c.ttl); err != nil {
			c.note(at, "host-record=%s: %v", val, err)
		}
	case "cname":
		if err := addCNAME(cfg, val, c.ttl); err != nil {
			c.note(at, "cname=%s: %v", val, err)
		}
	case "nftset":
		c.nftset(at, val)
	case "ipset":
		c.note(at, "ipset=%s: not carried over: dnsward has no ipset support (ipset is the legacy "+
			"iptables set type); create nftables sets for it and list them under nftset.rules", val)
	case "listen-address":
		c.listenAddrs = append(c.listenAddrs, strings.Split(val, ",")...)
	case "port":
		c.port = val
	case "cache-size":
		size, err := strconv.Atoi(val)
		if err != nil {
			c.note(at, "cache-size=%s: not a number", val)
			break
		}
		cfg.Cache.Size = max(size, 1)
	case "min-cache-ttl":
		cfg.Cache.MinTTL = val + "s"
	case "max-cache-ttl":
		cfg.Cache.MaxTTL = val + "s"
	case "log-queries":
		c.note(at, "log-queries: dnsward always writes its query log (see the querylog section)")
	case "no-resolv", "resolv-file":
		c.note(at, "%s: dnsward reads no resolv.conf; its upstreams are listed under upstreams", key)
	case "dhcp-host":
		c.dhcp = true
		if h, ok := parseDhcpHost(val); ok {
			c.hosts = append(c.hosts, h)
			c.note(at, "dhcp-host: %s %s answered as a local record; dnsward is not a DHCP server, keep dnsmasq (with port=0) or another DHCP server for it", h.name, h.ip)
		} else {
			c.note(at, "dhcp-host: no name and address to answer; dnsward is not a DHCP server, keep dnsmasq (with port=0) or another DHCP server for it")
		}
	case "dhcp-range", "dhcp-option", "dhcp-authoritative", "dhcp-boot", "enable-ra":
		c.dhcp = true
		c.note(at, "%s: dnsward is not a DHCP server; keep dnsmasq (with port=0) or another DHCP server for it", key)
	default:
		c.note(at, "%s: no dnsward equivalent", line)
	}
	return nil
}

// readDir follows conf-dir=DIR[,EXT...] as dnsmasq does: files in name
// order, skipping names starting with '.', ending in '~' or wrapped in
// '#'; "*.conf" reads only files ending in .conf, a plain ".bak" skips
// files ending in .bak.
func (c *dnsmasqImport) readDir(val string, depth int) error {
	dir, exts, _ := strings.Cut(val, ",")
	var only, skip []string
	for e := range strings.SplitSeq(exts, ",") {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(e, "*"); ok {
			only = append(only, rest)
		} else {
			skip = append(skip, e)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries { // ReadDir sorts by name
		name := e.Name()
		hasSuffix := func(s string) bool { return strings.HasSuffix(name, s) }
		switch {
		case e.IsDir(), strings.HasPrefix(name, "."), hasSuffix("~"),
			strings.HasPrefix(name, "#") && hasSuffix("#"),
			slices.ContainsFunc(skip, hasSuffix),
			len(only) > 0 && !slices.ContainsFunc(only, hasSuffix):
			continue
		}
		if err := c.readFile(filepath.Join(dir, name), depth); err != nil {
			return err
		}
	}
	return nil
}

// address handles address=/name/ (NXDOMAIN, subdomains included),
// address=/name/# or /name/0.0.0.0 or /name/:: (null addresses) and
// address=/name/ip (a local record).
func (c *dnsmasqImport) address(at, v string) {
	i := strings.LastIndex(v, "/")
	if !strings.HasPrefix(v, "/") || i == 0 {
		c.note(at, "address=%s: want /name/address", v)
		return
	}
	names, target := slashList(v[:i]), v[i+1:]
	switch target {
	case "", "#", "0.0.0.0", "::":
		c.cfg.Blocklists.Rules = append(c.cfg.Blocklists.Rules, names...)
		if target == "" {
			c.nxBlocks = append(c.nxBlocks, at)
		} else {
			c.nullBlocks = append(c.nullBlocks, at)
		}
		return
	}
	ip, err := netip.ParseAddr(target)
	if err != nil {
		c.note(at, "address=%s: %q is not an IP address", v, target)
		return
	}
	for _, name := range names {
		c.cfg.Local.Records = append(c.cfg.Local.Records, addressRecord(name, ip, c.ttl))
	}
	c.note(at, "address=%s: dnsmasq also answers subdomains of the name; dnsward answers the name only", v)
}

// nftset handles nftset=/domain[/domain...]/[(4|6)#][family#]table#set[,...].
// Without a family dnsmasq hands "table set" to libnftables, whose default
// family is ip. The 4# or 6# restriction is left out: dnsward adds A
// addresses to ipv4_addr sets and AAAA addresses to ipv6_addr sets.
func (c *dnsmasqImport) nftset(at, v string) {
	i := strings.LastIndex(v, "/")
	if !strings.HasPrefix(v, "/") || i == 0 {
		c.note(at, "nftset=%s: not carried over: dnsward needs the domains (/domain/...) whose answers go to the sets", v)
		return
	}
	var rule importedNftRule
	for _, d := range slashList(v[:i]) {
		if d = strings.TrimLeft(d, "."); d == "#" || d == "" {
			c.note(at, "nftset=%s: not carried over: dnsward has no rule for every domain (#)", v)
			return
		}
		rule.Domains = append(rule.Domains, d)
	}
	restricted := false
	for spec := range strings.SplitSeq(v[i+1:], ",") {
		if rest, ok := strings.CutPrefix(spec, "4#"); ok {
			spec, restricted = rest, true
		} else if rest, ok := strings.CutPrefix(spec, "6#"); ok {
			spec, restricted = rest, true
		}
		parts := strings.Split(spec, "#")
		if len(parts) == 2 {
			parts = append([]string{"ip"}, parts...)
		}
		ref, err := config.ParseSetRef(strings.Join(parts, " "))
		if err != nil {
			c.note(at, "nftset=%s: not carried over: %q is not [(4|6)#][family#]table#set with family inet, ip or ip6", v, spec)
			return
		}
		rule.Sets = append(rule.Sets, ref.Family+" "+ref.Table+" "+ref.Set)
	}
	c.cfg.NftSet.Rules = append(c.cfg.NftSet.Rules, rule)
	if restricted {
		c.note(at, "nftset=%s: the 4# and 6# restrictions are implied: dnsward adds A addresses to sets of type "+
			"ipv4_addr and AAAA addresses to sets of type ipv6_addr", v)
	}
}

// finish applies what depends on the whole configuration.
func (c *dnsmasqImport) finish() {
	cfg := c.cfg
	if c.dhcp && len(cfg.Local.LeasesFiles) == 0 {
		cfg.Local.LeasesFiles = []string{"/var/lib/misc/dnsmasq.leases"}
	}
	// dnsmasq answers a dhcp-host name bare and, with domain=, qualified.
	for _, h := range c.hosts {
		cfg.Local.Records = append(cfg.Local.Records, addressRecord(h.name, h.ip, c.ttl))
		if cfg.Local.Domain != "" && !strings.Contains(h.name, ".") {
			cfg.Local.Records = append(cfg.Local.Records, addressRecord(h.name+"."+cfg.Local.Domain, h.ip, c.ttl))
		}
	}
	switch {
	case c.expandHosts && cfg.Local.Domain == "":
		c.notes = append(c.notes, "expand-hosts without domain= adds nothing; dnsward's local.domain is left empty")
	case !c.expandHosts && cfg.Local.Domain != "":
		c.note(c.domainAt, "domain=%s without expand-hosts: dnsward also appends it to names from hosts files (local.domain)", cfg.Local.Domain)
	}
	// blocklists.response is one answer for every blocked name.
	switch {
	case len(c.nullBlocks) > 0 && len(c.nxBlocks) == 0:
		cfg.Blocklists.Response = "null"
	case len(c.nullBlocks) > 0:
		c.notes = append(c.notes, fmt.Sprintf("address=/name/# or /name/0.0.0.0 (%s) are answered NXDOMAIN, not 0.0.0.0: "+
			"blocklists.response is one answer for every blocked name, and address=/name/ (%s) wants NXDOMAIN",
			strings.Join(c.nullBlocks, ", "), strings.Join(c.nxBlocks, ", ")))
	}
	if c.port != "0" {
		if len(c.listenAddrs) == 0 {
			c.listenAddrs = []string{""}
		}
		for _, a := range c.listenAddrs {
			cfg.Listen = append(cfg.Listen, net.JoinHostPort(a, c.port))
		}
	}
	// dnsward's safer defaults stay on; say so where dnsmasq had them off.
	cfg.Local.DomainNeeded, cfg.Local.BogusPriv = true, true
	if !c.domainNeeded {
		c.notes = append(c.notes, "domain-needed was off in dnsmasq; dnsward keeps single-label names local (local.domain_needed)")
	}
	if !c.bogusPriv {
		c.notes = append(c.notes, "bogus-priv was off in dnsmasq; dnsward answers private reverse lookups locally (local.bogus_priv)")
	}
	if !cfg.Rebind.Enabled {
		cfg.Rebind.Enabled = true
		c.notes = append(c.notes, "stop-dns-rebind was off in dnsmasq; dnsward keeps rebinding protection on (rebind_protection.enabled)")
	}
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

// addressRecord is an A or AAAA zone-file line.
func addressRecord(name string, ip netip.Addr, ttl string) string {
	t := "A"
	if ip.Is6() {
		t = "AAAA"
	}
	return strings.Join(strings.Fields(fmt.Sprintf("%s. %s IN %s %s", strings.TrimSuffix(name, "."), ttl, t, ip)), " ")
}

// addHostRecord handles host-record=name[,name...],ipv4[,ipv6][,ttl];
// ttl is used when the line gives none.
func addHostRecord(cfg *imported, v, ttl string) error {
	var names []string
	var ips []netip.Addr
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

// addCNAME handles cname=alias[,alias...],target[,ttl]; ttl is used when
// the line gives none.
func addCNAME(cfg *imported, v, ttl string) error {
	fields := strings.Split(v, ",")
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

// parseDhcpHost finds the name and address in dhcp-host=[hwaddr][,id:x]
// [,set:tag][,tag:tag][,ipaddr][,hostname][,lease_time][,ignore].
func parseDhcpHost(v string) (dhcpHost, bool) {
	var h dhcpHost
	for f := range strings.SplitSeq(v, ",") {
		f = strings.TrimSpace(f)
		if ip, err := netip.ParseAddr(strings.Trim(f, "[]")); err == nil {
			h.ip = ip
			continue
		}
		switch {
		case f == "ignore":
			return h, false // dnsmasq gives this host nothing
		case f == "" || f == "infinite" || strings.ContainsAny(f, ":*") || isLeaseTime(f):
			// hardware address, id:, set:, tag: or a lease time
		default:
			h.name = strings.TrimSuffix(f, ".")
		}
	}
	return h, h.name != "" && h.ip.IsValid()
}

// isLeaseTime is whether f is a number, perhaps with a unit (45m, 12h).
func isLeaseTime(f string) bool {
	if strings.ContainsAny(f[len(f)-1:], "smhdw") {
		f = f[:len(f)-1]
	}
	_, err := strconv.ParseUint(f, 10, 32)
	return err == nil
}
