package upstream_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
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
	"github.com/dnsward/dnsward/upstream"
	"github.com/miekg/dns"
)

// certName is the name unbound's throwaway certificate is for.
const certName = "dns.dnsward.test"

// unbound is a real DoT and DoH server on loopback, answering test.
// names from local data and forwarding nothing.
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
	u.ca, u.leaf = makeCerts(t, dir)
	port := func(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }
	conf := fmt.Sprintf(`server:
	username: ""
	chroot: ""
	directory: "%[1]s"
	pidfile: "%[1]s/unbound.pid"
	do-daemonize: no
	use-syslog: no
	logfile: ""
	verbosity: 1
	num-threads: 1
	do-ip6: no
	interface-automatic: no
	interface: 127.0.0.1@%[2]s
	interface: 127.0.0.1@%[3]s
	tls-port: %[2]s
	https-port: %[3]s
	tls-service-pem: "%[1]s/cert.pem"
	tls-service-key: "%[1]s/key.pem"
	http-endpoint: "/dns-query"
	access-control: 127.0.0.0/8 allow
	module-config: "iterator"
	local-zone: "." static
	local-zone: "test." static
	local-data: "example.test. 300 IN A 192.0.2.1"
	extended-statistics: yes
remote-control:
	control-enable: yes
	control-interface: "%[1]s/control.sock"
	control-use-cert: no
`, dir, port(u.tlsAddr), port(u.httpsAddr))
	confFile := filepath.Join(dir, "unbound.conf")
	u.conf = confFile
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "-d", "-c", confFile)
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
	for _, addr := range []string{u.tlsAddr, u.httpsAddr} {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			select {
			case <-exited:
				t.Fatalf("unbound exited: %s", out.String())
			default:
			}
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("unbound not listening on %s after 10 s: %s", addr, out.String())
			}
		}
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

// makeCerts writes a CA and a certificate it signed for certName and
// 127.0.0.1 to dir, as cert.pem (with the chain) and key.pem.
func makeCerts(t *testing.T, dir string) (ca, leaf *x509.Certificate) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey, leafKey := newKey(), newKey()
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dnsward test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: certName},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{certName}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		t.Fatal(err)
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	if leaf, err = x509.ParseCertificate(leafDER); err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(leafKey)
	if err != nil {
		t.Fatal(err)
	}
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)
	for name, data := range map[string][]byte{
		"cert.pem": chain,
		"key.pem":  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return ca, leaf
}

// spki is the pin= of c's public key.
func spki(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// tlsStamp is a DoT or DoH stamp for addr carrying c's certificate hash.
func tlsStamp(proto dnsstamps.StampProtoType, addr string, c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawTBSCertificate)
	_, port, _ := net.SplitHostPort(addr)
	s := dnsstamps.ServerStamp{Proto: proto, ServerAddrStr: addr, ProviderName: net.JoinHostPort(certName, port), Hashes: [][]byte{sum[:]}}
	if proto == dnsstamps.StampProtoTypeDoH {
		s.Path = "/dns-query"
	}
	return s.String()
}

// countingProxy forwards TCP connections to addr and counts them; drop
// closes those open, as a server dropping idle connections does.
type countingProxy struct {
	addr  string
	conns atomic.Int32
	mu    sync.Mutex
	open  []net.Conn
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
			for _, pair := range [][2]net.Conn{{c, s}, {s, c}} {
				wg.Go(func() {
					_, _ = io.Copy(pair[0], pair[1])
					pair[0].Close()
					pair[1].Close()
				})
			}
		}
	})
	return p
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
	if r.Id != 4242 || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
		return fmt.Errorf("%s answered %v", u, r)
	}
	return nil
}

// TestTLSUpstreamsAgainstUnbound asks a real DoT and DoH server in every
// form an upstream can take: many queries travel over one connection,
// with several in flight at once over HTTP/2, and a kept connection the
// server closed is replaced without failing the query.
func TestTLSUpstreamsAgainstUnbound(t *testing.T) {
	ub := startUnbound(t)
	dot, doh := newCountingProxy(t, ub.tlsAddr), newCountingProxy(t, ub.httpsAddr)
	tests := []struct {
		raw, name string
		proxy     *countingProxy
	}{
		{"tls://" + dot.addr + "?pin=" + spki(ub.leaf) + "#" + certName, "tls://" + dot.addr + "#" + certName, dot},
		// The CA's key pinned, the name after the address.
		{"tls://" + dot.addr + "#" + certName + "?pin=" + spki(ub.ca), "tls://" + dot.addr + "#" + certName, dot},
		// No name: the certificate must be for the address.
		{"tls://" + dot.addr + "?pin=" + spki(ub.ca), "tls://" + dot.addr, dot},
		{tlsStamp(dnsstamps.StampProtoTypeTLS, dot.addr, ub.ca), "tls://" + dot.addr + "#" + certName, dot},
		{"https://" + doh.addr + "/dns-query?pin=" + spki(ub.leaf) + "#" + certName, "https://" + doh.addr + "/dns-query#" + certName, doh},
		{"https://" + doh.addr + "/dns-query?pin=" + spki(ub.ca), "https://" + doh.addr + "/dns-query", doh},
		{tlsStamp(dnsstamps.StampProtoTypeDoH, doh.addr, ub.ca), "https://" + certName + ":" + doh.addr[strings.LastIndex(doh.addr, ":")+1:] + "/dns-query", doh},
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
		if strings.HasPrefix(tt.raw, "https://") {
			// Over HTTP/2, even the first queries share a connection.
			askAtOnce(t, u, 20)
		}
		for i := range 20 {
			if err := ask(t, u, "example.test."); err != nil {
				t.Fatalf("%s: query %d: %v", tt.raw, i, err)
			}
		}
		if n := tt.proxy.conns.Load() - before; n != 1 {
			t.Errorf("%s: %d connections for its queries, want 1", u, n)
		}
		tt.proxy.drop()
		if err := ask(t, u, "example.test."); err != nil {
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
		wg.Go(func() { errs <- ask(t, u, "example.test.") })
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
	dot := "tls://%s?pin=" + spki(ub.ca) + "#" + certName
	doh := "https://%s/dns-query?pin=" + spki(ub.ca) + "#" + certName
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
		r, from, err := g.Exchange(ctx, query("example.test.", dns.TypeA))
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
		{"tls://" + ub.tlsAddr + "#" + certName, "certificate"},
		{"https://" + ub.httpsAddr + "/dns-query#" + certName, "certificate"},
		{"tls://" + ub.tlsAddr + "?pin=" + wrong + "#" + certName, "pin"},
		{"https://" + ub.httpsAddr + "/dns-query?pin=" + wrong + "#" + certName, "pin"},
		// The CA pinned, but the certificate is for another name.
		{"tls://" + ub.tlsAddr + "?pin=" + spki(ub.ca) + "#other.dnsward.test", "other.dnsward.test"},
	}
	for _, tt := range tests {
		u, err := upstream.Parse(tt.raw, time.Second)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.raw, err)
		}
		g := upstream.NewGroup([]upstream.Upstream{u}, time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _, err = g.Exchange(ctx, query("example.test.", dns.TypeA))
		cancel()
		if err == nil || !strings.Contains(err.Error(), u.String()) || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: error %v, want one naming it and saying %q", tt.raw, err, tt.err)
		}
		g.Close()
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
	u, err := upstream.Parse("tls://"+proxy.addr+"?pin="+spki(ub.ca)+"#"+certName, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	for range 3 {
		if err := ask(t, u, "example.test."); err != nil {
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
		"tls://" + ub.tlsAddr + "?pin=" + spki(ub.ca) + "#" + certName,
		"https://" + ub.httpsAddr + "/dns-query?pin=" + spki(ub.ca) + "#" + certName,
	} {
		u, err := upstream.Parse(raw, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, u)
	}
	checkCloseReleases(t, []string{ub.tlsAddr, ub.httpsAddr}, ups...)
}
