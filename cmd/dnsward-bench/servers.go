package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// server is one DNS server under test (or the test resolver) on loopback.
type server struct {
	name     string // "dnsward", "dnsmasq", "unbound" or "testserver"
	port     int    // plain DNS port on 127.0.0.1
	proc     *proc
	metrics  string    // dnsward's metrics host:port, "" when off
	stamp    string    // the test resolver's DNSCrypt stamp
	variant  string    // how this instance differs from the plain configuration, as the tables name it
	logFile  string    // where its stderr or log goes
	answered time.Time // when waitReady first got a correct answer from it
}

// lab is the loopback laboratory: the temporary directory, the processes
// started and the ports handed out so far.
type lab struct {
	tmp   string
	bin   string // directory holding dnsward and dnscrypt-testserver
	fleet *fleet

	mu    sync.Mutex
	ports map[int]bool
	seq   int
}

// freePort finds a port free for both UDP and TCP on 127.0.0.1 that this
// lab has not handed out yet.
func (l *lab) freePort() (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for range 100 {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("udp listen on 127.0.0.1: %w", err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		tl, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		pc.Close()
		if err != nil {
			continue // free for UDP only
		}
		tl.Close()
		if l.ports[port] {
			continue
		}
		l.ports[port] = true
		return port, nil
	}
	return 0, fmt.Errorf("no loopback port free for UDP and TCP after 100 tries")
}

// instance makes a fresh directory for one server instance under the lab
// and hands it n free ports.
func (l *lab) instance(name string, n int) (dir string, ports []int, err error) {
	l.mu.Lock()
	l.seq++
	dir = filepath.Join(l.tmp, fmt.Sprintf("%02d-%s", l.seq, name))
	l.mu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	for range n {
		p, err := l.freePort()
		if err != nil {
			return "", nil, err
		}
		ports = append(ports, p)
	}
	return dir, ports, nil
}

// startTestServer starts bin/dnscrypt-testserver with the given per-answer
// delay and reads its stamp from the first line of its output. It keeps
// each client's DNSCrypt shared key, as production resolvers do: computing
// it for every query, as the library's Server does, took the test resolver
// 190-220 µs per answer and made it, not dnsward, what bounded the misses.
func (l *lab) startTestServer(ctx context.Context, delay time.Duration) (*server, error) {
	dir, ports, err := l.instance("testserver", 2)
	if err != nil {
		return nil, err
	}
	plain, crypt := ports[0], ports[1]
	logFile := filepath.Join(dir, "stderr.log")
	errLog, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	defer errLog.Close()
	pr, pw := io.Pipe()
	p, err := l.fleet.start("testserver", pw, errLog, filepath.Join(l.bin, "dnscrypt-testserver"),
		"-plain", fmt.Sprintf("127.0.0.1:%d", plain), "-dnscrypt", fmt.Sprintf("127.0.0.1:%d", crypt),
		"-delay", delay.String(), "-key-cache")
	if err != nil {
		return nil, err
	}
	go func() { <-p.done; pw.Close() }()
	stampc := make(chan string, 1)
	go func() {
		br := bufio.NewReader(pr)
		line, _ := br.ReadString('\n')
		stampc <- strings.TrimSpace(line)
		_, _ = io.Copy(io.Discard, br)
	}()
	s := &server{name: "testserver", port: plain, proc: p, logFile: logFile}
	select {
	case s.stamp = <-stampc:
	case <-time.After(15 * time.Second):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if !strings.HasPrefix(s.stamp, "sdns://") {
		return nil, fmt.Errorf("testserver printed no stamp (log %s)", logFile)
	}
	return s, waitReady(ctx, s, 15*time.Second)
}

// dnsmasqArgs is dnsmasq's command line as a caching forwarder to the
// test resolver, files in dir. The report prints it with placeholders, so
// port, upstreamPort and dir are strings. --conf-file=/dev/null keeps the
// machine's /etc/dnsmasq.conf (which may forward to public resolvers or
// serve DHCP) out; --keep-in-foreground rather than --no-daemon, which is
// debug mode.
func dnsmasqArgs(port, upstreamPort string, cacheSize int, dir string) []string {
	return []string{"--conf-file=/dev/null", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll",
		"--listen-address=127.0.0.1", "--bind-interfaces", "--port=" + port,
		"--server=127.0.0.1#" + upstreamPort,
		fmt.Sprintf("--cache-size=%d", cacheSize), "--dns-forward-max=1000",
		"--pid-file=" + filepath.Join(dir, "dnsmasq.pid"), "--user=root",
		"--log-facility=" + filepath.Join(dir, "dnsmasq.log")}
}

// startDnsmasq starts dnsmasq in the foreground as a caching forwarder to
// upstreamPort.
func (l *lab) startDnsmasq(ctx context.Context, upstreamPort, cacheSize int) (*server, error) {
	dir, ports, err := l.instance("dnsmasq", 1)
	if err != nil {
		return nil, err
	}
	port := ports[0]
	s := &server{name: "dnsmasq", port: port, logFile: filepath.Join(dir, "dnsmasq.log")}
	s.proc, err = l.fleet.start("dnsmasq", nil, nil, "dnsmasq",
		dnsmasqArgs(strconv.Itoa(port), strconv.Itoa(upstreamPort), cacheSize, dir)...)
	if err != nil {
		return nil, err
	}
	return s, waitReady(ctx, s, 15*time.Second)
}

// unboundConf is unbound as a caching forwarder to the test resolver: in
// the foreground, no chroot, files in its own directory. The catch-all
// forward-zone "." keeps any stray query off the root servers, and with
// no trust anchor nothing is fetched for DNSSEC either.
const unboundConf = `server:
  interface: 127.0.0.1
  port: %[1]d
  do-ip6: no
  do-daemonize: no
  chroot: ""
  username: ""
  directory: "%[2]s"
  pidfile: "%[2]s/unbound.pid"
  use-syslog: no
  logfile: "%[2]s/unbound.log"
  verbosity: 0
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  # unbound answers test. itself (RFC 6761) unless told not to.
  local-zone: "test." nodefault
  domain-insecure: "test."
  module-config: "iterator"
  num-threads: %[3]d
  so-reuseport: yes
  so-rcvbuf: 8m
  so-sndbuf: 8m
  outgoing-range: 4096
  num-queries-per-thread: 4096
  msg-cache-size: 512m
  rrset-cache-size: 1024m
remote-control:
  control-enable: no
forward-zone:
  name: "test."
  forward-addr: 127.0.0.1@%[4]d
forward-zone:
  name: "."
  forward-addr: 127.0.0.1@%[4]d
`

// startUnbound starts unbound in the foreground as a caching forwarder to
// upstreamPort with threads threads.
func (l *lab) startUnbound(ctx context.Context, upstreamPort, threads int) (*server, error) {
	dir, ports, err := l.instance("unbound", 1)
	if err != nil {
		return nil, err
	}
	port := ports[0]
	conf := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, unboundConf, port, dir, threads, upstreamPort), 0o644); err != nil {
		return nil, err
	}
	if out, err := runBounded(ctx, 10*time.Second, "unbound-checkconf", conf); err != nil {
		return nil, fmt.Errorf("unbound-checkconf %s: %w: %s", conf, err, out)
	}
	s := &server{name: "unbound", port: port, logFile: filepath.Join(dir, "unbound.log")}
	if s.proc, err = l.fleet.start("unbound", nil, nil, "unbound", "-d", "-c", conf); err != nil {
		return nil, err
	}
	return s, waitReady(ctx, s, 15*time.Second)
}

// dnswardOpts are the knobs of one dnsward instance.
type dnswardOpts struct {
	upstream  string // the test resolver's DNSCrypt stamp, or its plain udp:// address
	cacheSize int
	queryLog  string // query-log file; "" turns the file sink off
	blocklist string // a list file; "" loads none
	ready     time.Duration
	// answersOff turns the answer index off (answers.enabled: false).
	answersOff bool
	// flowsSyslog is the TCP address of a flow syslog listener taking
	// lines from loopback about clients in flowClients; "" for none.
	flowsSyslog string
	// webPort, if not 0, serves the web page on it (web.listen).
	webPort int
}

// flowClients is the flow workload's LAN: its lines' SRC addresses, which
// allow_clients (loopback) does not cover, so flows.clients names them.
const flowClients = "10.0.0.0/8"

// dnswardConf writes o as a dnsward YAML configuration. Keys are those of
// packaging/dnsward.yaml; the rate limit is off (qps 0) because the one
// benchmark client sends far more than a LAN host would, and hosts files
// are left out so the machine's /etc/hosts plays no part.
func dnswardConf(port, metricsPort int, o dnswardOpts) string {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: [\"127.0.0.1:%d\"]\n", port)
	b.WriteString("allow_clients: [\"127.0.0.0/8\"]\n")
	fmt.Fprintf(&b, "upstreams: [%q]\n", o.upstream)
	fmt.Fprintf(&b, "cache:\n  size: %d\n", o.cacheSize)
	b.WriteString("log:\n  level: warn\n")
	b.WriteString("local:\n  hosts_files: []\n")
	b.WriteString("rate_limit:\n  qps: 0\n  burst: 0\n")
	fmt.Fprintf(&b, "querylog:\n  format: json\n  file: %q\n", o.queryLog)
	if o.blocklist != "" {
		fmt.Fprintf(&b, "blocklists:\n  lists:\n    - name: bench\n      path: %q\n", o.blocklist)
	}
	fmt.Fprintf(&b, "metrics:\n  listen: \"127.0.0.1:%d\"\n", metricsPort)
	if o.answersOff {
		b.WriteString("answers:\n  enabled: false\n")
	}
	if o.flowsSyslog != "" {
		fmt.Fprintf(&b, "flows:\n  clients: [%q]\n  syslog:\n    tcp: %q\n    senders: [\"127.0.0.0/8\"]\n", flowClients, o.flowsSyslog)
	}
	if o.webPort != 0 {
		fmt.Fprintf(&b, "web:\n  listen: \"127.0.0.1:%d\"\n", o.webPort)
	}
	return b.String()
}

// startDnsward starts bin/dnsward serve with a generated configuration.
func (l *lab) startDnsward(ctx context.Context, o dnswardOpts) (*server, error) {
	dir, ports, err := l.instance("dnsward", 2)
	if err != nil {
		return nil, err
	}
	port, mport := ports[0], ports[1]
	conf := filepath.Join(dir, "dnsward.yaml")
	if err := os.WriteFile(conf, []byte(dnswardConf(port, mport, o)), 0o644); err != nil {
		return nil, err
	}
	bin := filepath.Join(l.bin, "dnsward")
	if out, err := runBounded(ctx, 60*time.Second, bin, "check-config", "--config", conf); err != nil {
		return nil, fmt.Errorf("dnsward check-config %s: %w: %s", conf, err, out)
	}
	s := &server{name: "dnsward", port: port, metrics: fmt.Sprintf("127.0.0.1:%d", mport),
		logFile: filepath.Join(dir, "stderr.log")}
	errLog, err := os.Create(s.logFile)
	if err != nil {
		return nil, err
	}
	defer errLog.Close()
	if s.proc, err = l.fleet.start("dnsward", nil, errLog, bin, "serve", "--config", conf); err != nil {
		return nil, err
	}
	return s, waitReady(ctx, s, cmp.Or(o.ready, 15*time.Second))
}
