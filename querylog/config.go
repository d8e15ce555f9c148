package querylog

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultQueueSize  = 65536
	DefaultSpoolMax   = 256 << 20
	DefaultMaxBackups = 5
	// DefaultFlushInterval makes a busy resolver's encoder wake a few
	// hundred times a second rather than once per query; what it costs is
	// this long of queries lost to a kill -9. The packaged configuration
	// sets it; New takes a zero FlushInterval literally.
	DefaultFlushInterval = 5 * time.Millisecond
	// MaxFlushInterval keeps the pause far below what fills the queue at
	// any rate a LAN resolver sees, and below the one-second sync.
	MaxFlushInterval = time.Second
)

// Config selects the sinks and their limits.
type Config struct {
	Format     string         // "json" (default) or "kv"
	File       string         // path; "" = no file sink
	MaxSize    int64          // rotate the file when it would exceed this many bytes; 0 = never
	MaxAge     time.Duration  // rotate the file once its first record is this old; 0 = never
	MaxBackups int            // rotated files kept as File.1 … File.N; 0 = DefaultMaxBackups
	Syslog     []SyslogConfig // syslog collectors
	HEC        []HECConfig    // Splunk HEC compatible collectors
	Dnstap     []DnstapConfig // dnstap receivers and files
	SpoolDir   string         // disk queue for collectors; required when any collector is set
	SpoolMax   int64          // bytes each collector may spool; 0 = DefaultSpoolMax
	QueueSize  int            // entries buffered between Log and the encoder; 0 = DefaultQueueSize
	// FlushInterval is how long the encoder lets entries gather after the
	// first of a spell before writing them all: entries still queued are
	// what a kill -9 loses, so about this long of queries. 0 writes each
	// entry as soon as the encoder is free; at most MaxFlushInterval.
	FlushInterval time.Duration
}

// SyslogConfig is one RFC 5424 syslog collector.
type SyslogConfig struct {
	Network            string // "udp", "tcp" (RFC 6587 octet counting) or "tls"
	Address            string // host:port
	CAFile             string // PEM roots for tls; "" = system roots
	InsecureSkipVerify bool   // tls without certificate checks
	AppName            string // APP-NAME; "" = "dnsward"
	Hostname           string // HOSTNAME; "" = os.Hostname()
}

// HECConfig is one Splunk HTTP Event Collector compatible endpoint.
type HECConfig struct {
	URL                string // base URL, or full URL when it has a path
	Token              string // sent as "Authorization: Splunk <token>"
	Index              string // optional
	Sourcetype         string // optional
	CAFile             string // PEM roots for https; "" = system roots
	InsecureSkipVerify bool   // https without certificate checks
}

// DnstapConfig is one dnstap receiver (Frame Streams over a socket, with
// the bidirectional handshake) or one Frame Streams file.
type DnstapConfig struct {
	Network  string // "unix", "tcp" or "file"
	Address  string // socket path, host:port, or file path
	Identity string // the dnstap identity field; "" = left out
	Version  string // the dnstap version field; "" = left out
}

// Validate reports a bad network or address.
func (d DnstapConfig) Validate() error {
	switch d.Network {
	case "unix", "file":
		if d.Address == "" {
			return fmt.Errorf("address is empty; want a %s path", d.Network)
		}
	case "tcp":
		if err := checkHostPort(d.Address); err != nil {
			return fmt.Errorf("address %q: %w", d.Address, err)
		}
	default:
		return fmt.Errorf("unknown network %q; want unix, tcp or file", d.Network)
	}
	return nil
}

// Validate reports every malformed setting at once, each naming the sink.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("querylog: "+format, args...))
	}
	switch c.Format {
	case "", FormatJSON, FormatKV:
	default:
		bad("unknown format %q; want %q or %q", c.Format, FormatJSON, FormatKV)
	}
	if c.MaxSize < 0 || c.MaxAge < 0 || c.MaxBackups < 0 || c.SpoolMax < 0 || c.QueueSize < 0 {
		bad("MaxSize, MaxAge, MaxBackups, SpoolMax and QueueSize must not be negative")
	}
	if c.FlushInterval < 0 || c.FlushInterval > MaxFlushInterval {
		bad("FlushInterval %v is outside 0s to %v", c.FlushInterval, MaxFlushInterval)
	}
	if (c.MaxSize > 0 || c.MaxAge > 0) && c.File == "" {
		bad("MaxSize or MaxAge is set but File is empty")
	}
	names := map[string]bool{}
	for i, s := range c.Syslog {
		switch s.Network {
		case "udp", "tcp", "tls":
		default:
			bad("syslog[%d]: unknown network %q; want udp, tcp or tls", i, s.Network)
		}
		if err := checkHostPort(s.Address); err != nil {
			bad("syslog[%d]: address %q: %v", i, s.Address, err)
		}
		if s.Network != "tls" && (s.CAFile != "" || s.InsecureSkipVerify) {
			bad("syslog[%d]: CAFile and InsecureSkipVerify need network tls", i)
		}
		if len(s.AppName) > 48 || !printableASCII(s.AppName) {
			bad("syslog[%d]: AppName %q must be at most 48 printable ASCII characters without spaces", i, s.AppName)
		}
		if len(s.Hostname) > 255 || !printableASCII(s.Hostname) {
			bad("syslog[%d]: Hostname %q must be at most 255 printable ASCII characters without spaces", i, s.Hostname)
		}
		name := syslogName(s)
		if names[name] {
			bad("syslog[%d]: duplicate collector %s", i, name)
		}
		names[name] = true
	}
	for i, h := range c.HEC {
		u, err := url.Parse(h.URL)
		switch {
		case err != nil:
			bad("hec[%d]: URL: %v", i, err)
		case u.Scheme != "http" && u.Scheme != "https":
			bad("hec[%d]: URL %q: scheme must be http or https", i, h.URL)
		case u.Host == "":
			bad("hec[%d]: URL %q has no host", i, h.URL)
		case u.Scheme == "http" && (h.CAFile != "" || h.InsecureSkipVerify):
			bad("hec[%d]: CAFile and InsecureSkipVerify need an https URL", i)
		}
		if h.Token == "" {
			bad("hec[%d]: Token is empty", i)
		}
		name := hecName(h)
		if names[name] {
			bad("hec[%d]: duplicate collector %s", i, name)
		}
		names[name] = true
	}
	for i, d := range c.Dnstap {
		if err := d.Validate(); err != nil {
			bad("dnstap[%d]: %v", i, err)
		}
		name := dnstapName(d)
		if names[name] {
			bad("dnstap[%d]: duplicate collector %s", i, name)
		}
		names[name] = true
	}
	if len(names) > 0 && c.SpoolDir == "" {
		bad("SpoolDir is required when syslog, HEC or dnstap collectors are configured")
	}
	return errors.Join(errs...)
}

func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "" {
		return errors.New("missing host")
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return fmt.Errorf("bad port %q", port)
	}
	return nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 {
			return false
		}
	}
	return true
}

// tlsConfig loads the CA file at start so that a typo fails New, not the
// first delivery hours later.
func tlsConfig(serverName, caFile string, insecure bool) (*tls.Config, error) {
	conf := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure}
	if caFile == "" {
		return conf, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	conf.RootCAs = x509.NewCertPool()
	if !conf.RootCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s: no PEM certificates", caFile)
	}
	return conf, nil
}
