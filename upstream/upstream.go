// Package upstream sends queries to DNSCrypt, DNS-over-TLS, DNS-over-HTTPS
// and plain DNS resolvers and fails over between them.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/ameshkov/dnsstamps"
	"github.com/miekg/dns"
)

// Upstream is one resolver that answers queries.
type Upstream interface {
	// Exchange sends m and returns the response that matches it; its
	// errors name the upstream, as the group's errors join them.
	Exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error)
	// String names the upstream in logs and query-log records.
	String() string
	// Close releases the sockets the upstream keeps; exchanges in flight
	// end as they would have, later ones fail with ErrClosed. It may be
	// called more than once.
	io.Closer
}

// EDNSSize is the UDP payload size advertised upstream (the DNS flag day
// 2020 value, which avoids IP fragmentation).
const EDNSSize = 1232

// ErrMismatch is returned for a response that does not answer the query.
var ErrMismatch = errors.New("response does not match the query")

// Parse builds an Upstream from a URL: sdns://… (a DNSCrypt, DoT or DoH
// stamp; a DNSCrypt one may name relays), udp://host:port, tcp://host:port, tls://host[:port] or
// https://host[:port]/path; timeout bounds the DNSCrypt certificate fetch.
// It opens no socket, so a configuration can be checked with it.
func Parse(raw string, timeout time.Duration) (Upstream, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, fmt.Errorf("upstream %q: want sdns://, udp://, tcp://, tls:// or https://", raw)
	}
	switch scheme {
	case "sdns":
		return parseStamp(raw, timeout)
	case "tls":
		return NewDoT(raw)
	case "https":
		return NewDoH(raw)
	case "udp", "tcp":
		u, err := url.Parse(raw)
		if err != nil || u.Path != "" || u.Host != rest {
			return nil, fmt.Errorf("upstream %q: want %s://host:port", raw, scheme)
		}
		if _, _, err := net.SplitHostPort(u.Host); err != nil {
			return nil, fmt.Errorf("upstream %q: %w", raw, err)
		}
		return &Plain{Addr: u.Host, TCPOnly: scheme == "tcp"}, nil
	default:
		return nil, fmt.Errorf("upstream %q: unknown scheme %q, want sdns, udp, tcp, tls or https", raw, scheme)
	}
}

// parseStamp builds the upstream an sdns:// stamp describes, and its relays.
func parseStamp(raw string, timeout time.Duration) (Upstream, error) {
	server, _, relayed := strings.Cut(raw, viaPrefix)
	if _, err := parseRelayStamp(server); err == nil {
		return nil, fmt.Errorf("upstream stamp %q: a relay's: pair it with a DNSCrypt stamp, sdns://SERVER%ssdns://RELAY", raw, viaPrefix)
	}
	s, err := dnsstamps.NewServerStampFromString(server)
	if err != nil {
		return nil, fmt.Errorf("upstream stamp %q: %w", raw, err)
	}
	switch {
	case relayed && s.Proto != dnsstamps.StampProtoTypeDNSCrypt:
		return nil, fmt.Errorf("upstream stamp %q: relays carry DNSCrypt only, not %s", raw, s.Proto.String())
	case s.Proto == dnsstamps.StampProtoTypeDNSCrypt:
		return NewDNSCrypt(raw, timeout)
	case s.Proto == dnsstamps.StampProtoTypeTLS:
		return NewDoT(raw)
	case s.Proto == dnsstamps.StampProtoTypeDoH:
		return NewDoH(raw)
	default:
		return nil, fmt.Errorf("upstream stamp %q: protocol %s, want DNSCrypt, DoT or DoH", raw, s.Proto.String())
	}
}

// check rejects a response whose id or question differs from the query's,
// so a stray or spoofed packet is never cached.
func check(q, r *dns.Msg) error {
	if r.Id != q.Id {
		return fmt.Errorf("%w: id %d, want %d", ErrMismatch, r.Id, q.Id)
	}
	if !r.Response || r.Opcode != q.Opcode {
		return fmt.Errorf("%w: not a response to a query", ErrMismatch)
	}
	if len(r.Question) != 1 || len(q.Question) != 1 {
		return fmt.Errorf("%w: %d questions", ErrMismatch, len(r.Question))
	}
	a, b := r.Question[0], q.Question[0]
	if a.Qtype != b.Qtype || a.Qclass != b.Qclass || !strings.EqualFold(a.Name, b.Name) {
		return fmt.Errorf("%w: question %s, want %s", ErrMismatch, a.String(), b.String())
	}
	return nil
}
