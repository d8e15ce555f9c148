// Package config loads dnsward's configuration from the embedded default,
// a YAML file, DNSWARD_* environment variables and flags, and validates it.
// It is plain data: each package that runs part of dnsward translates its
// own section, and checks what only it can (a stamp, a collector) through
// the checks Load takes, so that every problem names its file and line.
//
// A field tagged reload:"restart" takes effect only on restart: the
// sockets bound and files opened before privileges were dropped, and the
// logs. RestartOnly reads the tags.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/dnsward/dnsward/packaging"
	"github.com/miekg/dns"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Config is the whole configuration; keys are those of packaging/dnsward.yaml.
type Config struct {
	Listen          []string      `mapstructure:"listen" reload:"restart"`
	AllowClients    []string      `mapstructure:"allow_clients"`
	Upstreams       []string      `mapstructure:"upstreams"`
	UpstreamTimeout time.Duration `mapstructure:"upstream_timeout"`
	QueryTimeout    time.Duration `mapstructure:"query_timeout"`
	Cache           Cache         `mapstructure:"cache"`
	Log             Log           `mapstructure:"log" reload:"restart"`
	User            string        `mapstructure:"user" reload:"restart"`
	StateDir        string        `mapstructure:"state_dir" reload:"restart"`
	Local           Local         `mapstructure:"local"`
	ForwardZones    []ForwardZone `mapstructure:"forward_zones"`
	Rebind          Rebind        `mapstructure:"rebind_protection"`
	RateLimit       RateLimit     `mapstructure:"rate_limit"`
	Blocklists      Blocklists    `mapstructure:"blocklists"`
	Limits          Limits        `mapstructure:"limits"`
	QueryLog        QueryLog      `mapstructure:"querylog" reload:"restart"`
	Metrics         Metrics       `mapstructure:"metrics"`
	Answers         Answers       `mapstructure:"answers" reload:"restart"`
	Devices         Devices       `mapstructure:"devices" reload:"restart"`
	NftSet          NftSet        `mapstructure:"nftset" reload:"restart"`
	Flows           Flows         `mapstructure:"flows" reload:"restart"`
	Control         Control       `mapstructure:"control" reload:"restart"`
	Web             Web           `mapstructure:"web" reload:"restart"`
}

// Metrics is the metrics section.
type Metrics struct {
	Listen string `mapstructure:"listen" reload:"restart"`
}

// QueryLog is the query log section.
type QueryLog struct {
	Format     string        `mapstructure:"format"`
	File       string        `mapstructure:"file"`
	MaxSize    int64         `mapstructure:"max_size"`
	MaxAge     time.Duration `mapstructure:"max_age"`
	MaxBackups int           `mapstructure:"max_backups"`
	QueueSize  int           `mapstructure:"queue_size"`
	SpoolMax   int64         `mapstructure:"spool_max"`
	Syslog     []SyslogSink  `mapstructure:"syslog"`
	HEC        []HECSink     `mapstructure:"hec"`
	Dnstap     []DnstapSink  `mapstructure:"dnstap"`
	// FlushInterval bounds what a kill -9 loses; see querylog.Config.
	FlushInterval time.Duration `mapstructure:"flush_interval"`
}

// SyslogSink is one syslog collector.
type SyslogSink struct {
	Network            string `mapstructure:"network"`
	Address            string `mapstructure:"address"`
	CAFile             string `mapstructure:"ca_file"`
	InsecureSkipVerify bool   `mapstructure:"insecure_skip_verify"`
	AppName            string `mapstructure:"app_name"`
	Hostname           string `mapstructure:"hostname"`
}

// HECSink is one Splunk HTTP Event Collector.
type HECSink struct {
	URL                string `mapstructure:"url"`
	Token              string `mapstructure:"token"`
	Index              string `mapstructure:"index"`
	Sourcetype         string `mapstructure:"sourcetype"`
	CAFile             string `mapstructure:"ca_file"`
	InsecureSkipVerify bool   `mapstructure:"insecure_skip_verify"`
}

// DnstapSink is one dnstap receiver or file.
type DnstapSink struct {
	Network  string `mapstructure:"network"`
	Address  string `mapstructure:"address"`
	Identity string `mapstructure:"identity"`
	Version  string `mapstructure:"version"`
}

// HasCollectors says whether any syslog, HEC or dnstap receiver is
// configured: each spools under state_dir.
func (q QueryLog) HasCollectors() bool { return len(q.Syslog)+len(q.HEC)+len(q.Dnstap) > 0 }

// Limits is the resource limits section.
type Limits struct {
	TCPPerClient     int `mapstructure:"tcp_per_client" reload:"restart"`
	TCPTotal         int `mapstructure:"tcp_total" reload:"restart"`
	UpstreamInflight int `mapstructure:"upstream_inflight"`
}

// Local is the LAN names section.
type Local struct {
	HostsFiles   []string      `mapstructure:"hosts_files"`
	LeasesFiles  []string      `mapstructure:"leases_files"`
	Records      []string      `mapstructure:"records"`
	Domain       string        `mapstructure:"domain"`
	Domains      []string      `mapstructure:"domains"`
	TTL          time.Duration `mapstructure:"ttl"`
	DomainNeeded bool          `mapstructure:"domain_needed"`
	BogusPriv    bool          `mapstructure:"bogus_priv"`
}

// ForwardZone sends one domain to its own upstreams.
type ForwardZone struct {
	Domain    string   `mapstructure:"domain"`
	Upstreams []string `mapstructure:"upstreams"`
}

// Rebind is the DNS rebinding protection section.
type Rebind struct {
	Enabled bool     `mapstructure:"enabled"`
	Allow   []string `mapstructure:"allow"`
}

// RateLimit is the per-client rate limit section.
type RateLimit struct {
	QPS   float64 `mapstructure:"qps"`
	Burst int     `mapstructure:"burst"`
}

// Blocklists is the blocklists section.
type Blocklists struct {
	Response string            `mapstructure:"response"`
	TTL      time.Duration     `mapstructure:"ttl"`
	Refresh  time.Duration     `mapstructure:"refresh"`
	Rules    []string          `mapstructure:"rules"`
	Lists    []BlocklistSource `mapstructure:"lists"`
	Groups   []BlockGroup      `mapstructure:"groups"`
}

// BlockGroup is more rules and lists for some clients only.
type BlockGroup struct {
	Name    string            `mapstructure:"name"`
	Clients []string          `mapstructure:"clients"`
	Rules   []string          `mapstructure:"rules"`
	Lists   []BlocklistSource `mapstructure:"lists"`
}

// BlocklistSource is one list: a file or a URL.
type BlocklistSource struct {
	Name  string `mapstructure:"name"`
	Path  string `mapstructure:"path"`
	URL   string `mapstructure:"url"`
	Allow bool   `mapstructure:"allow"`
}

// Cache is the cache section.
type Cache struct {
	Size           int           `mapstructure:"size"`
	MinTTL         time.Duration `mapstructure:"min_ttl"`
	MaxTTL         time.Duration `mapstructure:"max_ttl"`
	NegativeMaxTTL time.Duration `mapstructure:"negative_max_ttl"`
	ServeStale     time.Duration `mapstructure:"serve_stale"`
	Prefetch       bool          `mapstructure:"prefetch"`
	// Persist keeps the cache in state_dir across a clean restart.
	Persist bool `mapstructure:"persist" reload:"restart"`
}

// Log is the program log section.
type Log struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

// Flags registers the flags that override configuration keys.
func Flags(fs *pflag.FlagSet) {
	fs.String("config", "", "YAML configuration `file` (default: the embedded configuration)")
	fs.StringArray("listen", nil, "listen `address` host:port, UDP and TCP (repeatable)")
	fs.StringArray("upstream", nil, "upstream `URL`: sdns:// (DNSCrypt with |via= relays, DoT, DoH), tls://host:port, https://host/dns-query, udp://host:port or tcp://host:port (repeatable)")
	fs.String("querylog", "", "query log `file` (sets querylog.file)")
	fs.StringArray("blocklist", nil, "blocklist `file` (repeatable), added to blocklists.lists")
	fs.String("log-level", "", "program log `level`: debug, info, warn or error")
	fs.String("log-format", "", "program log `format`: text or json")
	fs.String("metrics", "", "metrics `address` host:port for /metrics and /healthz (sets metrics.listen)")
	fs.String("control", "", "control socket `path` that dnsward who asks (sets control.socket)")
	fs.String("web", "", "web page `address` host:port, read-only (sets web.listen)")
}

// flagKeys maps flag names to the configuration keys they set.
var flagKeys = map[string]string{
	"listen":     "listen",
	"upstream":   "upstreams",
	"querylog":   "querylog.file",
	"log-level":  "log.level",
	"log-format": "log.format",
	"metrics":    "metrics.listen",
	"control":    "control.socket",
	"web":        "web.listen",
}

// Load reads the embedded default, then the file named by --config, the
// environment and the flags, each overriding the one before, and validates
// the result. Errors name the file and line, or the variable or flag, at
// fault. Repeated forward_zones for one domain are merged into one.
// Each of checks adds the problems its package finds in the result, which
// are told with the others, in file order.
func Load(fs *pflag.FlagSet, checks ...Checker) (*Config, error) {
	cfg, _, err := load(fs, false, checks)
	return cfg, err
}

// Check is Load for check-config: it also fails when a blocklist file does
// not exist (serve waits for it instead), and returns a note, with file and
// line, for each forward_zones entry merged into an earlier one.
func Check(fs *pflag.FlagSet, checks ...Checker) (*Config, []string, error) {
	return load(fs, true, checks)
}

// Checker finds the problems a package sees in its part of a configuration
// that passed the plain checks of Load, each by the key at fault.
type Checker func(*Config) []Problem

// Problem is one invalid value, by its key path ("upstreams.1"), which
// Load turns into an error naming its file and line.
type Problem struct {
	Key string
	Err error
}

func load(fs *pflag.FlagSet, strict bool, checks []Checker) (*Config, []string, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(packaging.DefaultConfig)); err != nil {
		return nil, nil, fmt.Errorf("embedded config: %w", err)
	}
	file, _ := fs.GetString("config")
	var doc *document
	var ps []located
	var removed []string
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, nil, fmt.Errorf("config: %w", err)
		}
		if doc, err = parseDocument(file, data); err != nil {
			return nil, nil, err
		}
		ps, removed = doc.prune()
		settings, err := doc.settings()
		if err != nil {
			return nil, nil, err
		}
		if err := v.MergeConfigMap(settings); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", file, err)
		}
	}
	origins := map[string]string{}
	ps = append(ps, bindEnv(v, origins)...)
	for name, key := range flagKeys {
		if f := fs.Lookup(name); f != nil {
			if err := v.BindPFlag(key, f); err != nil {
				return nil, nil, fmt.Errorf("flag --%s: %w", name, err)
			}
			if f.Changed {
				origins[key] = "--" + name
			}
		}
	}
	var cfg Config
	if err := v.UnmarshalExact(&cfg); err != nil {
		if file != "" {
			return nil, nil, fmt.Errorf("%s: %w", file, err)
		}
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	files, _ := fs.GetStringArray("blocklist")
	for _, f := range files {
		origins[fmt.Sprintf("blocklists.lists.%d", len(cfg.Blocklists.Lists))] = "--blocklist " + f
		cfg.Blocklists.Lists = append(cfg.Blocklists.Lists, BlocklistSource{Name: filepath.Base(f), Path: f})
	}
	problems := cfg.validate()
	if strict {
		problems = append(problems, cfg.missingLists()...)
	}
	for _, check := range checks {
		problems = append(problems, check(&cfg)...)
	}
	ps = append(ps, doc.locate(problems, origins, removed)...)
	if len(ps) > 0 {
		return nil, nil, joinInLineOrder(ps)
	}
	return &cfg, cfg.mergeZones(doc), nil
}

// bindEnv binds each key to its variable (cache.size to DNSWARD_CACHE_SIZE)
// when that is set and of the key's type, and records it in origins. A
// variable of the wrong type is a problem naming it; its key keeps the
// value the file or the default gave.
func bindEnv(v *viper.Viper, origins map[string]string) []located {
	var ps []located
	leafKeys(reflect.TypeFor[Config](), "", func(key string, t reflect.Type) {
		name := "DNSWARD_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
		val, ok := os.LookupEnv(name)
		if !ok || val == "" {
			return // as viper does, an empty variable is unset
		}
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct {
			ps = append(ps, located{0, fmt.Errorf("%s: %s is a list of mappings: set it in the configuration file", name, key)})
			return
		}
		if checkScalar(val, t) != nil {
			ps = append(ps, located{0, fmt.Errorf("%s=%q: not a %s (for %s)", name, val, kindName(t), key)})
			return
		}
		if err := v.BindEnv(key, name); err != nil {
			ps = append(ps, located{0, fmt.Errorf("%s: %w", name, err)})
			return
		}
		origins[key] = name + "=" + val
	})
	return ps
}

// leafKeys calls fn with every key of t that holds a value, not a mapping,
// and that value's type.
func leafKeys(t reflect.Type, prefix string, fn func(string, reflect.Type)) {
	for i := range t.NumField() {
		f := t.Field(i)
		key := join(prefix, f.Tag.Get("mapstructure"))
		if f.Type.Kind() == reflect.Struct && f.Type != durationType {
			leafKeys(f.Type, key, fn)
			continue
		}
		fn(key, f.Type)
	}
}

// mergeZones folds each forward_zones entry into the first one for the
// same domain (compared without case and final dot), keeping every server
// in order, as dnsmasq uses every server= given for a domain. It returns a
// note, with file and line, for each entry merged.
func (c *Config) mergeZones(d *document) []string {
	var zones []ForwardZone
	first := map[string]int{}
	var firstAt []int // the index in the file of each of zones
	var notes []string
	for i, z := range c.ForwardZones {
		domain := strings.ToLower(strings.TrimSuffix(z.Domain, "."))
		j, seen := first[domain]
		if !seen {
			firstAt = append(firstAt, i)
			first[domain] = len(zones)
			zones = append(zones, ForwardZone{Domain: z.Domain, Upstreams: slices.Clone(z.Upstreams)})
			continue
		}
		for _, u := range z.Upstreams {
			if !slices.Contains(zones[j].Upstreams, u) {
				zones[j].Upstreams = append(zones[j].Upstreams, u)
			}
		}
		at := fmt.Sprintf("forward_zones.%d", i)
		if line := d.line(at); line > 0 {
			at = fmt.Sprintf("%s:%d: %s", d.file, line, at)
		}
		notes = append(notes, fmt.Sprintf("%s: %s merged into forward_zones.%d (line %d); upstreams, in order: %s",
			at, z.Domain, firstAt[j], d.line(fmt.Sprintf("forward_zones.%d", firstAt[j])), strings.Join(zones[j].Upstreams, ", ")))
	}
	if len(notes) > 0 {
		c.ForwardZones = zones
	}
	return notes
}

// validate makes the checks that need no other package.
func (c *Config) validate() []Problem {
	var ps []Problem
	add := func(key string, err error) { ps = append(ps, Problem{key, err}) }
	if len(c.Listen) == 0 {
		add("listen", fmt.Errorf("no listen address"))
	}
	for i, addr := range c.Listen {
		if err := checkListen(addr); err != nil {
			add(fmt.Sprintf("listen.%d", i), err)
		}
	}
	if _, err := c.Clients(); err != nil {
		for i, s := range c.AllowClients {
			if _, err := ParsePrefix(s); err != nil {
				add(fmt.Sprintf("allow_clients.%d", i), err)
			}
		}
	}
	if len(c.Upstreams) == 0 {
		add("upstreams", fmt.Errorf("no upstream"))
	}
	if c.UpstreamTimeout <= 0 {
		add("upstream_timeout", fmt.Errorf("must be positive"))
	}
	if c.QueryTimeout < c.UpstreamTimeout {
		add("query_timeout", fmt.Errorf("%v is shorter than upstream_timeout %v", c.QueryTimeout, c.UpstreamTimeout))
	}
	if c.Cache.Size < 1 {
		add("cache.size", fmt.Errorf("must be at least 1"))
	}
	if c.Cache.MaxTTL < c.Cache.MinTTL {
		add("cache.max_ttl", fmt.Errorf("%v is below min_ttl %v", c.Cache.MaxTTL, c.Cache.MinTTL))
	}
	if _, err := c.Log.SlogLevel(); err != nil {
		add("log.level", err)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		add("log.format", fmt.Errorf("%q: want text or json", c.Log.Format))
	}
	if c.Metrics.Listen != "" {
		if err := checkListen(c.Metrics.Listen); err != nil {
			add("metrics.listen", err)
		}
	}
	if c.StateDir != "" && !filepath.IsAbs(c.StateDir) {
		add("state_dir", fmt.Errorf("%q is not an absolute path", c.StateDir))
	}
	for i, rec := range c.Local.Records {
		if _, err := dns.NewRR(rec); err != nil {
			add(fmt.Sprintf("local.records.%d", i), fmt.Errorf("record %q: %w", rec, err))
		}
	}
	for i, d := range c.Local.Domains {
		if _, ok := dns.IsDomainName(d); !ok || d == "" {
			add(fmt.Sprintf("local.domains.%d", i), fmt.Errorf("%q is not a domain name", d))
		}
	}
	for i, z := range c.ForwardZones {
		key := fmt.Sprintf("forward_zones.%d", i)
		if _, ok := dns.IsDomainName(z.Domain); !ok || z.Domain == "" {
			add(key+".domain", fmt.Errorf("%q is not a domain name", z.Domain))
		}
		if len(z.Upstreams) == 0 {
			add(key+".upstreams", fmt.Errorf("no upstream for %s", z.Domain))
		}
	}
	if c.QueryLog.HasCollectors() && c.StateDir == "" {
		add("state_dir", fmt.Errorf("query-log collectors need state_dir for their spool"))
	}
	if c.Limits.TCPPerClient < 0 || c.Limits.TCPTotal < 0 || c.Limits.UpstreamInflight < 0 {
		add("limits", fmt.Errorf("limits must not be negative (0 means no limit)"))
	}
	if !(c.RateLimit.QPS >= 0) || math.IsInf(c.RateLimit.QPS, 1) || c.RateLimit.Burst < 0 {
		add("rate_limit", fmt.Errorf("qps and burst must be finite and not negative"))
	}
	c.eachList(func(key string, l BlocklistSource) {
		switch {
		case (l.Path == "") == (l.URL == ""):
			add(key, fmt.Errorf("list %q: give exactly one of path and url", l.Name))
		case l.URL != "" && !strings.HasPrefix(l.URL, "http://") && !strings.HasPrefix(l.URL, "https://"):
			add(key+".url", fmt.Errorf("%q: want an http:// or https:// URL", l.URL))
		case l.Name == "":
			add(key+".name", fmt.Errorf("a list needs a name, shown in the query log"))
		}
	})
	groups := map[string]bool{}
	for i, g := range c.Blocklists.Groups {
		key := fmt.Sprintf("blocklists.groups.%d", i)
		switch {
		case g.Name == "" || strings.ContainsAny(g.Name, "/ "):
			add(key+".name", fmt.Errorf("%q: a group needs a name without spaces or slashes, shown in the query log", g.Name))
		case groups[g.Name]:
			add(key+".name", fmt.Errorf("group %q is defined twice", g.Name))
		}
		groups[g.Name] = true
		if len(g.Clients) == 0 {
			add(key+".clients", fmt.Errorf("group %q has no client networks", g.Name))
		}
		for j, s := range g.Clients {
			if _, err := ParsePrefix(s); err != nil {
				add(fmt.Sprintf("%s.clients.%d", key, j), err)
			}
		}
	}
	ps = append(ps, c.validateEgress()...)
	ps = append(ps, c.validateControl()...)
	ps = append(ps, c.validateWeb()...)
	return ps
}

// eachList calls fn with every blocklist, the groups' too, and its key.
func (c *Config) eachList(fn func(key string, l BlocklistSource)) {
	for i, l := range c.Blocklists.Lists {
		fn(fmt.Sprintf("blocklists.lists.%d", i), l)
	}
	for i, g := range c.Blocklists.Groups {
		for j, l := range g.Lists {
			fn(fmt.Sprintf("blocklists.groups.%d.lists.%d", i, j), l)
		}
	}
}

// missingLists names the blocklist files that cannot be read.
func (c *Config) missingLists() []Problem {
	var ps []Problem
	c.eachList(func(key string, l BlocklistSource) {
		if l.Path == "" {
			return
		}
		if _, err := os.Stat(l.Path); errors.Is(err, fs.ErrNotExist) {
			ps = append(ps, Problem{key + ".path", fmt.Errorf("list %q: %s does not exist", l.Name, l.Path)})
		} else if err != nil {
			ps = append(ps, Problem{key + ".path", fmt.Errorf("list %q: %w", l.Name, err)})
		}
	})
	return ps
}

// Prefixes parses client networks already checked by validate.
func Prefixes(networks []string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(networks))
	for _, s := range networks {
		if p, err := ParsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func checkListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("listen address %q: host must be an IP address", addr)
		}
	}
	if _, err := net.LookupPort("udp", port); err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	return nil
}

// ParsePrefix accepts a CIDR or a lone address.
func ParsePrefix(s string) (netip.Prefix, error) {
	if addr, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(addr, addr.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, fmt.Errorf("client network %q: want a CIDR such as 192.168.0.0/16", s)
	}
	return p.Masked(), nil
}

// Clients is allow_clients parsed.
func (c *Config) Clients() ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(c.AllowClients))
	for _, s := range c.AllowClients {
		p, err := ParsePrefix(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// SlogLevel is log.level parsed.
func (l Log) SlogLevel() (slog.Level, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(l.Level)); err != nil {
		return lvl, fmt.Errorf("%q: want debug, info, warn or error", l.Level)
	}
	return lvl, nil
}
