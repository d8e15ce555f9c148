package upstream_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ameshkov/dnsstamps"
	"github.com/dnsward/dnsward/internal/tlsunbound"
	"github.com/dnsward/dnsward/upstream"
	"github.com/miekg/dns"
)

// unbound is a real DoT and DoH server on loopback, answering
// tlsunbound.LocalName from local data and forwarding nothing.
type unbound struct {
	tlsAddr, httpsAddr string
	ca, leaf           *x509.Certificate
	conf               string
}

// startUnbound runs unbound on free loopback ports with a certificate made
// for the test, and stops it when the test ends.
func startUnbound(t *testing.T) *unbound {
	t.Helper()
	bin, err := exec.LookPath("unbound")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/unbound"); err != nil {
			t.Skip("skipped: unbound not installed")
		}
	}
	dir := t.TempDir()
	u := &unbound{tlsAddr: freeAddr(t), httpsAddr: freeAddr(t)}
	if u.ca, u.leaf, err = tlsunbound.MakeCerts(dir); err != nil {
		t.Fatal(err)
	}
	port := func(addr string) int { _, p, _ := net.SplitHostPort(addr); n, _ := strconv.Atoi(p); return n }
	conf, err := tlsunbound.Config(tlsunbound.Options{Dir: dir, TLSPort: port(u.tlsAddr), HTTPSPort: port(u.httpsAddr), Control: true})
	if err != nil {
		t.Fatal(err)
	}
	u.conf = filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(u.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "-d", "-c", u.conf)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tlsunbound.WaitListening(ctx, exited, u.tlsAddr, u.httpsAddr); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	return u
}

// stat reads one of unbound's statistics.
func (u *unbound) stat(t *testing.T, name string) int {
	t.Helper()
	out, err := exec.Command("unbound-control", "-c", u.conf, "stats_noreset").CombinedOutput()
	if err != nil {
		t.Fatalf("unbound-control: %v: %s", err, out)
	}
	for line := range strings.Lines(string(out)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+"="); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return n
		}
	}
	return 0
}

// freeAddr is a loopback address with a TCP port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// tlsStamp is a DoT or DoH stamp for addr carrying c's certificate hash.
func tlsStamp(proto dnsstamps.StampProtoType, addr string, c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawTBSCertificate)
	_, port, _ := net.SplitHostPort(addr)
	s := dnsstamps.ServerStamp{Proto: proto, ServerAddrStr: addr, ProviderName: net.JoinHostPort(tlsunbound.CertName, port), Hashes: [][]byte{sum[:]}}
	if proto == dnsstamps.StampProtoTypeDoH {
		s.Path = "/dns-query"
	}
	return s.String()
}

// countingProxy forwards TCP connections to addr and counts them; drop
// closes those open, as a server dropping idle connections does, and
// blackhole stops forwarding what the client sends on them, as a server
// that hung does.
type countingProxy struct {
	addr  string
	conns atomic.Int32
	mu    sync.Mutex
	open  []net.Conn
	holes map[net.Conn]bool
}

func newCountingProxy(t *testing.T, to string) *countingProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{addr: l.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); p.drop(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.conns.Add(1)
			s, err := net.Dial("tcp", to)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.open = append(p.open, c, s)
			p.mu.Unlock()
			for _, pair := range [][2]net.Conn{{s, c}, {c, s}} {
				wg.Go(func() {
					buf := make([]byte, 4096)
					for {
						n, err := pair[1].Read(buf)
						if err != nil {
							break
						}
						p.mu.Lock()
						hole := p.holes[pair[1]]
						p.mu.Unlock()
						if hole {
							continue
						}
						if _, err := pair[0].Write(buf[:n]); err != nil {
							break
						}
					}
					pair[0].Close()
					pair[1].Close()
				})
			}
		}
	})
	return p
}

func (p *countingProxy) blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.holes = map[net.Conn]bool{}
	for _, c := range p.open {
		p.holes[c] = true
	}
}

func (p *countingProxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.open {
		c.Close()
	}
	p.open = nil
}

func ask(t *testing.T, u upstream.Upstream, name string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m := query(name, dns.TypeA)
	m.Id = 4242
	r, err := u.Exchange(ctx, m)
	if err != nil {
		return err
	}
	if r.Id != 4242 || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != tlsunbound.LocalAddr {
		return fmt.Errorf("%s answered %v", u, r)
	}
	return nil
}

// TestTLSUpstreamsAgainstUnbound asks a real DoT and DoH server in every
// form an upstream can take: many queries travel over one connection,
// with several in flight at once, and a kept connection the
// server closed is replaced without failing the query.
func TestTLSUpstreamsAgainstUnbound(t *testing.T) {
	ub := startUnbound(t)
	dot, doh := newCountingProxy(t, ub.tlsAddr), newCountingProxy(t, ub.httpsAddr)
	tests := []struct {
		raw, name string
		proxy     *countingProxy
	}{
		{"tls://" + dot.addr + "?pin=" + tlsunbound.SPKI(ub.leaf) + "#" + tlsunbound.CertName, "tls://" + dot.addr + "#" + tlsunbound.CertName, dot},
		// The CA's key pinned, the name after the address.
		{"tls://" + dot.addr + "#" + tlsunbound.CertName + "?pin=" + tlsunbound.SPKI(ub.ca), "tls://" + dot.addr + "#" + tlsunbound.CertName, dot},
		// No name: the certificate must be for the address.
		{"tls://" + dot.addr + "?pin=" + tlsunbound.SPKI(ub.ca), "tls://" + dot.addr, dot},
		{tlsStamp(dnsstamps.StampProtoTypeTLS, dot.addr, ub.ca), "tls://" + dot.addr + "#" + tlsunbound.CertName, dot},
		{"https://" + doh.addr + "/dns-query?pin=" + tlsunbound.SPKI(ub.leaf) + "#" + tlsunbound.CertName, "https://" + doh.addr + "/dns-query#" + tlsunbound.CertName, doh},
		{"https://" + doh.addr + "/dns-query?pin=" + tlsunbound.SPKI(ub.ca), "https://" + doh.addr + "/dns-query", doh},
		{tlsStamp(dnsstamps.StampProtoTypeDoH, doh.addr, ub.ca), "https://" + tlsunbound.CertName + ":" + doh.addr[strings.LastIndex(doh.addr, ":")+1:] + "/dns-query", doh},
	}
	for _, tt := range tests {
		u, err := upstream.Parse(tt.raw, time.Second)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.raw, err)
		}
		if u.String() != tt.name {
			t.Errorf("Parse(%q) named %s, want %s", tt.raw, u, tt.name)
		}
		before := tt.proxy.conns.Load()
		// Over HTTP/2, and pipelined over DoT, even the first queries,
		// asked at once, share a connection.
		askAtOnce(t, u, 20)
		for i := range 20 {
			if err := ask(t, u, tlsunbound.LocalName); err != nil {
				t.Fatalf("%s: query %d: %v", tt.raw, i, err)
			}
		}
		if n := tt.proxy.conns.Load() - before; n != 1 {
			t.Errorf("%s: %d connections for its queries, want 1", u, n)
		}
		tt.proxy.drop()
		if err := ask(t, u, tlsunbound.LocalName); err != nil {
			t.Errorf("%s: after the server closed the connection: %v", u, err)
		}
		u.Close()
	}
}

// askAtOnce asks u n queries at once.
func askAtOnce(t *testing.T, u upstream.Upstream, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() { errs <- ask(t, u, tlsunbound.LocalName) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("%s: concurrent query: %v", u, err)
		}
	}
}

// TestTLSUpstreamsFailOver takes one of a DoT and a DoH upstream down: the
// group answers from the other.
func TestTLSUpstreamsFailOver(t *testing.T) {
	ub := startUnbound(t)
	dot := "tls://%s?pin=" + tlsunbound.SPKI(ub.ca) + "#" + tlsunbound.CertName
	doh := "https://%s/dns-query?pin=" + tlsunbound.SPKI(ub.ca) + "#" + tlsunbound.CertName
	for _, pair := range [][2]string{
		{fmt.Sprintf(dot, freeAddr(t)), fmt.Sprintf(doh, ub.httpsAddr)},
		{fmt.Sprintf(doh, freeAddr(t)), fmt.Sprintf(dot, ub.tlsAddr)},
	} {
		var ups []upstream.Upstream
		for _, raw := range pair {
			u, err := upstream.Parse(raw, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			ups = append(ups, u)
		}
		g := upstream.NewGroup(ups, time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r, from, err := g.Exchange(ctx, query(tlsunbound.LocalName, dns.TypeA))
		cancel()
		if err != nil {
			t.Fatalf("%s down: %v", ups[0], err)
		}
		if from != ups[1] || len(r.Answer) != 1 {
			t.Errorf("%s down: answered by %s with %v", ups[0], from, r.Answer)
		}
		if st := g.Status(); !st[0].Down {
			t.Errorf("%s down but not marked so: %+v", ups[0], st)
		}
		g.Close()
	}
}

// TestTLSUpstreamsRejectImpostors checks that a server whose certificate
// is not trusted, matches no pin or is for another name is an upstream
// failure naming the upstream.
func TestTLSUpstreamsRejectImpostors(t *testing.T) {
	ub := startUnbound(t)
	wrong := base64.StdEncoding.EncodeToString(make([]byte, 32))
	tests := []struct{ raw, err string }{
		// Not in the system's CAs.
		{"tls://" + ub.tlsAddr + "#" + tlsunbound.CertName, "certificate"},
		{"https://" + ub.httpsAddr + "/dns-query#" + tlsunbound.CertName, "certificate"},
		{"tls://" + ub.tlsAddr + "?pin=" + wrong + "#" + tlsunbound.CertName, "pin"},
		{"https://" + ub.httpsAddr + "/dns-query?pin=" + wrong + "#" + tlsunbound.CertName, "pin"},
		// The CA pinned, but the certificate is for another name.
		{"tls://" + ub.tlsAddr + "?pin=" + tlsunbound.SPKI(ub.ca) + "#other.dnsward.test", "other.dnsward.test"},
	}
	for _, tt := range tests {
		u, err := upstream.Parse(tt.raw, time.Second)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.raw, err)
		}
		g := upstream.NewGroup([]upstream.Upstream{u}, time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _, err = g.Exchange(ctx, query(tlsunbound.LocalName, dns.TypeA))
		cancel()
		if err == nil || !strings.Contains(err.Error(), u.String()) || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: error %v, want one naming it and saying %q", tt.raw, err, tt.err)
		}
		g.Close()
	}
}

// TestDoTLeavesAHungConnection: a query that gets no reply on a kept
// connection that has answered nothing since it was sent closes that
// connection, so that the next query opens a new one rather than wait on
// a server that hung.
func TestDoTLeavesAHungConnection(t *testing.T) {
	ub := startUnbound(t)
	proxy := newCountingProxy(t, ub.tlsAddr)
	u, err := upstream.Parse("tls://"+proxy.addr+"?pin="+tlsunbound.SPKI(ub.ca)+"#"+tlsunbound.CertName, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if err := ask(t, u, tlsunbound.LocalName); err != nil {
		t.Fatal(err)
	}
	proxy.blackhole()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := u.Exchange(ctx, query(tlsunbound.LocalName, dns.TypeA)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("query on the hung connection: %v, want its deadline", err)
	}
	if err := ask(t, u, tlsunbound.LocalName); err != nil {
		t.Fatalf("after the hung connection: %v", err)
	}
	if n := proxy.conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// TestDoTResumesSessions checks that a new connection to a server resumes
// the TLS session of an earlier one rather than redoing the handshake.
func TestDoTResumesSessions(t *testing.T) {
	ub := startUnbound(t)
	if _, err := exec.LookPath("unbound-control"); err != nil {
		t.Skip("skipped: unbound-control not installed")
	}
	proxy := newCountingProxy(t, ub.tlsAddr)
	u, err := upstream.Parse("tls://"+proxy.addr+"?pin="+tlsunbound.SPKI(ub.ca)+"#"+tlsunbound.CertName, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	for range 3 {
		if err := ask(t, u, tlsunbound.LocalName); err != nil {
			t.Fatal(err)
		}
		proxy.drop()
	}
	if n := proxy.conns.Load(); n != 3 {
		t.Fatalf("%d connections, want 3", n)
	}
	if n := ub.stat(t, "num.query.tls.resume"); n != 2 {
		t.Errorf("%d queries over resumed sessions, want 2", n)
	}
}

func TestTLSUpstreamsCloseReleaseSockets(t *testing.T) {
	ub := startUnbound(t)
	var ups []upstream.Upstream
	for _, raw := range []string{
		"tls://" + ub.tlsAddr + "?pin=" + tlsunbound.SPKI(ub.ca) + "#" + tlsunbound.CertName,
		"https://" + ub.httpsAddr + "/dns-query?pin=" + tlsunbound.SPKI(ub.ca) + "#" + tlsunbound.CertName,
	} {
		u, err := upstream.Parse(raw, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, u)
	}
	checkCloseReleases(t, []string{ub.tlsAddr, ub.httpsAddr}, ups...)
}
