// Package tlsunbound sets up unbound as a DNS-over-TLS and DNS-over-HTTPS
// server on loopback with a throwaway certificate: the real server the
// upstream package's tests and the benchmark's DoT and DoH rows ask.
package tlsunbound

import (
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
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// CertName is the name the throwaway certificate is for.
const CertName = "dns.dnsward.test"

// LocalName is the name unbound answers from local data, with LocalAddr,
// when it forwards nothing.
const (
	LocalName = "example.test."
	LocalAddr = "192.0.2.1"
)

// MakeCerts writes a CA and a certificate it signed for CertName and
// 127.0.0.1 to dir, as cert.pem (with the chain) and key.pem, the files
// Config names.
func MakeCerts(dir string) (ca, leaf *x509.Certificate, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dnsward test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: CertName},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{CertName}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("CA certificate: %w", err)
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		return nil, nil, err
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("server certificate: %w", err)
	}
	if leaf, err = x509.ParseCertificate(leafDER); err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(leafKey)
	if err != nil {
		return nil, nil, err
	}
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)
	for name, data := range map[string][]byte{
		"cert.pem": chain,
		"key.pem":  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return nil, nil, err
		}
	}
	return ca, leaf, nil
}

// SPKI is the pin= (base64 SHA-256 of the public key) of c.
func SPKI(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// Options describe one unbound instance.
type Options struct {
	// Dir holds its files: MakeCerts's, the configuration's, its pid file.
	Dir string
	// TLSPort and HTTPSPort are its DoT and DoH ports on 127.0.0.1.
	TLSPort, HTTPSPort int
	// Threads is num-threads; 1 when zero.
	Threads int
	// Forward is the plain DNS server ("127.0.0.1:port") every query is
	// forwarded to; when empty, unbound answers LocalName from local data
	// and nothing else.
	Forward string
	// Control turns remote-control on, on a Unix socket in Dir, with
	// extended statistics (unbound-control -c CONF stats_noreset).
	Control bool
	// LogFile is where unbound logs; stderr when empty.
	LogFile string
}

// Config is the unbound configuration of o: in the foreground, no chroot,
// DoT and DoH (at /dns-query) only, loopback clients only, nothing asked
// of any server but o.Forward.
func Config(o Options) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, `server:
	username: ""
	chroot: ""
	directory: "%[1]s"
	pidfile: "%[1]s/unbound.pid"
	do-daemonize: no
	use-syslog: no
	logfile: "%[4]s"
	verbosity: 1
	num-threads: %[5]d
	do-ip6: no
	interface-automatic: no
	interface: 127.0.0.1@%[2]d
	interface: 127.0.0.1@%[3]d
	tls-port: %[2]d
	https-port: %[3]d
	tls-service-pem: "%[1]s/cert.pem"
	tls-service-key: "%[1]s/key.pem"
	http-endpoint: "/dns-query"
	access-control: 127.0.0.0/8 allow
	module-config: "iterator"
	# A forwarder keeps a connection per query in flight, more than
	# unbound's default ten per thread.
	incoming-num-tcp: 1024
	num-queries-per-thread: 4096
	outgoing-range: 8192
`, o.Dir, o.TLSPort, o.HTTPSPort, o.LogFile, max(o.Threads, 1))
	if o.Forward == "" {
		fmt.Fprintf(&b, "\tlocal-zone: \".\" static\n\tlocal-zone: \"test.\" static\n\tlocal-data: \"%s 300 IN A %s\"\n", LocalName, LocalAddr)
	} else {
		host, port, err := net.SplitHostPort(o.Forward)
		if err != nil {
			return "", fmt.Errorf("forward %q: %w", o.Forward, err)
		}
		// test. is special to unbound (RFC 6761) unless told otherwise;
		// without a trust anchor nothing is fetched for DNSSEC.
		b.WriteString("\tlocal-zone: \"test.\" nodefault\n\tdomain-insecure: \"test.\"\n\tdo-not-query-localhost: no\n")
		for _, zone := range []string{"test.", "."} {
			fmt.Fprintf(&b, "forward-zone:\n\tname: %q\n\tforward-addr: %s@%s\n", zone, host, port)
		}
	}
	if o.Control {
		fmt.Fprintf(&b, "server:\n\textended-statistics: yes\nremote-control:\n\tcontrol-enable: yes\n\tcontrol-interface: \"%s/control.sock\"\n\tcontrol-use-cert: no\n", o.Dir)
	} else {
		b.WriteString("remote-control:\n\tcontrol-enable: no\n")
	}
	return b.String(), nil
}

// WaitListening polls until every addr accepts TCP connections, until
// exited is closed (unbound ended) or ctx is done.
func WaitListening(ctx context.Context, exited <-chan struct{}, addrs ...string) error {
	var d net.Dialer
	for _, addr := range addrs {
		for {
			dctx, cancel := context.WithTimeout(ctx, time.Second)
			c, err := d.DialContext(dctx, "tcp", addr)
			cancel()
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-exited:
				return fmt.Errorf("unbound exited before listening on %s", addr)
			case <-ctx.Done():
				return fmt.Errorf("unbound not listening on %s: %w", addr, context.Cause(ctx))
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	return nil
}
