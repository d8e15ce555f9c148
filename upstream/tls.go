package upstream

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"syscall"

	"github.com/ameshkov/dnsstamps"
	"github.com/miekg/dns"
)

// sessionCacheSize bounds the TLS sessions kept for resumption, per upstream.
const sessionCacheSize = 32

// pin is a SHA-256 digest naming a trusted certificate: of its public key
// (the pin= of a URL, RFC 7858's SPKI pin) or of its to-be-signed part
// (the hashes of an sdns:// stamp).
type pin struct {
	sum [sha256.Size]byte
	tbs bool
}

func (p pin) matches(c *x509.Certificate) bool {
	if p.tbs {
		return sha256.Sum256(c.RawTBSCertificate) == p.sum
	}
	return sha256.Sum256(c.RawSubjectPublicKeyInfo) == p.sum
}

// tlsTarget is where a DNS-over-TLS or -HTTPS upstream connects and whom it
// expects to find there.
type tlsTarget struct {
	addr string // host:port dialled
	name string // the name (or IP address) the certificate must be for
	pins []pin
}

// config is the TLS configuration of connections to t, with a session
// cache so that new connections resume rather than redo the handshake.
func (t tlsTarget) config() *tls.Config {
	cfg := &tls.Config{
		ServerName:         t.name,
		MinVersion:         tls.VersionTLS12,
		ClientSessionCache: tls.NewLRUClientSessionCache(sessionCacheSize),
	}
	if len(t.pins) > 0 {
		// The pins stand in for the system's CAs, so that a site's own
		// resolver with its own CA or a self-signed certificate can be
		// used: VerifyConnection, called on resumed sessions too, checks
		// the chain up to the pinned certificate instead.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = t.verifyPinned
	}
	return cfg
}

// errNoPin is a server whose certificates match none of the pins.
var errNoPin = errors.New("no certificate of the server matches a pin")

// verifyPinned accepts a server whose certificate is pinned, or whose
// certificate chains, for t.name, up to a pinned one it presented.
func (t tlsTarget) verifyPinned(cs tls.ConnectionState) error {
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return errNoPin
	}
	for i, c := range certs {
		if !t.pinned(c) {
			continue
		}
		if i == 0 {
			return nil
		}
		roots, between := x509.NewCertPool(), x509.NewCertPool()
		roots.AddCert(c)
		for _, ic := range certs[1:i] {
			between.AddCert(ic)
		}
		_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: between, DNSName: t.name})
		return err
	}
	return errNoPin
}

func (t tlsTarget) pinned(c *x509.Certificate) bool {
	for _, p := range t.pins {
		if p.matches(c) {
			return true
		}
	}
	return false
}

// parseTLSURL parses tls://host[:port][?pin=…][#name] or
// https://host[:port]/path[?pin=…][#name]: host is dialled, name (host when
// not given) is what the certificate must be for, and each pin is the
// base64 SHA-256 of a public key the chain must lead to. The pins are
// taken out of the returned URL, the name out of its fragment.
func parseTLSURL(raw string) (*url.URL, tlsTarget, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, tlsTarget{}, err
	}
	if name, query, ok := strings.Cut(u.Fragment, "?"); ok && u.RawQuery == "" {
		// tls://host#name?pin=… reads as well as tls://host?pin=…#name.
		u.Fragment, u.RawQuery = name, query
	}
	if u.User != nil || u.Opaque != "" || u.Host == "" {
		return nil, tlsTarget{}, fmt.Errorf("want %s://host[:port]", u.Scheme)
	}
	port := map[string]string{"tls": "853", "https": "443"}[u.Scheme]
	t := tlsTarget{addr: u.Host, name: u.Fragment}
	if u.Port() == "" {
		t.addr = net.JoinHostPort(u.Hostname(), port)
	}
	if t.name == "" {
		t.name = u.Hostname()
	}
	if _, ok := dns.IsDomainName(t.name); !ok || strings.ContainsAny(t.name, "?#&=/ ") {
		return nil, tlsTarget{}, fmt.Errorf("server name %q is not a host name", t.name)
	}
	var keep []string
	for _, kv := range strings.Split(u.RawQuery, "&") {
		// Read raw: a base64 pin's "+" is not a space.
		key, val, _ := strings.Cut(kv, "=")
		switch {
		case kv == "":
		case key == "pin":
			sum, err := decodePin(val)
			if err != nil {
				return nil, tlsTarget{}, fmt.Errorf("pin %q: %w", val, err)
			}
			t.pins = append(t.pins, pin{sum: sum})
		case u.Scheme == "https":
			keep = append(keep, kv)
		default:
			return nil, tlsTarget{}, fmt.Errorf("unknown parameter %q, want pin=", key)
		}
	}
	u.RawQuery, u.Fragment = strings.Join(keep, "&"), ""
	return u, t, nil
}

// decodePin reads a base64 SHA-256 digest, padded or not, standard or URL
// alphabet.
func decodePin(s string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	s = strings.TrimRight(s, "=")
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		if b, err = base64.RawURLEncoding.DecodeString(s); err != nil {
			return sum, errors.New("not base64")
		}
	}
	if len(b) != len(sum) {
		return sum, fmt.Errorf("%d bytes, want a %d-byte SHA-256 digest", len(b), len(sum))
	}
	copy(sum[:], b)
	return sum, nil
}

// stampTarget is a DoT or DoH stamp's target: its address when it has one
// (else its host name, resolved when dialled), its host name, and its
// certificate hashes.
func stampTarget(s dnsstamps.ServerStamp, port string) (tlsTarget, error) {
	host := s.ProviderName
	if h, p, err := net.SplitHostPort(host); err == nil {
		host, port = h, p
	}
	if host == "" {
		return tlsTarget{}, errors.New("no host name")
	}
	t := tlsTarget{addr: s.ServerAddrStr, name: host}
	if t.addr == "" {
		t.addr = net.JoinHostPort(host, port)
	} else if _, _, err := net.SplitHostPort(t.addr); err != nil {
		t.addr = net.JoinHostPort(strings.Trim(t.addr, "[]"), port)
	}
	for _, h := range s.Hashes {
		if len(h) != sha256.Size {
			return tlsTarget{}, fmt.Errorf("certificate hash of %d bytes, want %d", len(h), sha256.Size)
		}
		t.pins = append(t.pins, pin{sum: [sha256.Size]byte(h), tbs: true})
	}
	return t, nil
}

// rawStampAddr is the address field of a DoT or DoH stamp already parsed,
// as written: props(8) after the protocol byte, then its length and bytes.
func rawStampAddr(stamp string) string {
	bin, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(stamp, "sdns://"))
	n := int(bin[9])
	return string(bin[10 : 10+n])
}

// DoT is a DNS-over-TLS resolver (RFC 7858). Its queries share a few kept
// connections, many in flight on each (pipelining, RFC 7766 6.2.1.1), and
// it resumes TLS sessions when it opens new ones (dot.go).
type DoT struct {
	target tlsTarget
	name   string
	tls    *tls.Config

	mu      sync.Mutex
	conns   []*dotConn
	dialing chan struct{} // closed when the dial under way ends; nil if none
	closed  bool
	readers sync.WaitGroup
}

// NewDoT parses tls://host[:port][?pin=base64][#name] or a DoT sdns://
// stamp; nothing is dialled until the first exchange.
func NewDoT(raw string) (*DoT, error) {
	var t tlsTarget
	if strings.HasPrefix(raw, "sdns://") {
		s, err := dnsstamps.NewServerStampFromString(raw)
		if err == nil && s.Proto != dnsstamps.StampProtoTypeTLS {
			err = fmt.Errorf("protocol %s, want DoT", s.Proto.String())
		}
		if err == nil {
			// dnsstamps gives an address without a port the port 843, not
			// the stamp specification's (and RFC 7858's) 853.
			s.ServerAddrStr = rawStampAddr(raw)
			t, err = stampTarget(s, "853")
		}
		if err != nil {
			return nil, fmt.Errorf("upstream stamp %q: %w", raw, err)
		}
	} else {
		u, target, err := parseTLSURL(raw)
		if err == nil && (u.Path != "" || u.RawQuery != "") {
			err = errors.New("want tls://host[:port][?pin=base64][#name]")
		}
		if err != nil {
			return nil, fmt.Errorf("upstream %q: %w", raw, err)
		}
		t = target
	}
	name := "tls://" + t.addr
	if host, _, _ := net.SplitHostPort(t.addr); host != t.name {
		name += "#" + t.name
	}
	return &DoT{target: t, name: name, tls: t.config()}, nil
}

// String is tls://address, and #name when the certificate's name is not
// the address's host.
func (d *DoT) String() string { return d.name }

// closedByPeer is whether err says the other end had closed the connection.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
