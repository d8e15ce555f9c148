package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ameshkov/dnsstamps"
	"github.com/miekg/dns"
)

// dohIdleTimeout is how long an unused DNS-over-HTTPS connection is kept.
const dohIdleTimeout = 90 * time.Second

// dohPingAfter is how long a DNS-over-HTTPS connection may stay silent
// before it is pinged, and how long the ping's answer may take.
const dohPingAfter = 5 * time.Second

// dnsMessage is the media type of RFC 8484's bodies.
const dnsMessage = "application/dns-message"

// DoH is a DNS-over-HTTPS resolver (RFC 8484), asked by POST over HTTP/2
// only (RFC 8484's minimum recommended version): exchanges in flight share
// one connection, kept open between them.
type DoH struct {
	url       string // of the requests
	addr      string // host:port dialled
	name      string
	transport *http.Transport
	client    *http.Client
	closed    atomic.Bool
}

// NewDoH parses https://host[:port]/path[?pin=base64][#name] or a DoH
// sdns:// stamp; nothing is dialled until the first exchange.
func NewDoH(raw string) (*DoH, error) {
	var t tlsTarget
	var reqURL, name string
	if strings.HasPrefix(raw, "sdns://") {
		s, err := dnsstamps.NewServerStampFromString(raw)
		if err == nil && s.Proto != dnsstamps.StampProtoTypeDoH {
			err = fmt.Errorf("protocol %s, want DoH", s.Proto.String())
		}
		if err == nil {
			t, err = stampTarget(s, "443")
		}
		if err == nil && !strings.HasPrefix(s.Path, "/") {
			err = fmt.Errorf("path %q does not start with /", s.Path)
		}
		if err != nil {
			return nil, fmt.Errorf("upstream stamp %q: %w", raw, err)
		}
		reqURL = "https://" + s.ProviderName + s.Path
		name = reqURL
	} else {
		u, target, err := parseTLSURL(raw)
		if err == nil && u.Path == "" {
			err = errors.New("want https://host[:port]/path[?pin=base64][#name]")
		}
		if err != nil {
			return nil, fmt.Errorf("upstream %q: %w", raw, err)
		}
		t, name = target, u.String()
		if t.name != u.Hostname() {
			// Dialled at the URL's host, asked as the name.
			name += "#" + t.name
			u.Host = t.name
			if u.Port() != "" {
				u.Host = net.JoinHostPort(t.name, u.Port())
			}
		}
		reqURL = u.String()
	}
	var dialer net.Dialer
	var h2 http.Protocols
	h2.SetHTTP2(true)
	tr := &http.Transport{
		// Every request goes to the one resolver, wherever the URL's
		// host would resolve to.
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, t.addr)
		},
		TLSClientConfig: t.config(),
		Protocols:       &h2,
		// One connection carries every exchange: without the cap, the
		// exchanges started before it is up would each dial their own.
		MaxConnsPerHost: 1,
		IdleConnTimeout: dohIdleTimeout,
		// A connection gone silent would otherwise fail every exchange
		// until the server's TCP connection times out: a ping finds it.
		HTTP2: &http.HTTP2Config{SendPingTimeout: dohPingAfter, PingTimeout: dohPingAfter},
	}
	return &DoH{url: reqURL, addr: t.addr, name: name, transport: tr, client: &http.Client{Transport: tr}}, nil
}

// String is the URL, without its pins.
func (d *DoH) String() string { return d.name }

// Exchange posts m with id 0, as RFC 8484 asks so that responses can be
// cached by HTTP, and returns the response under m's id.
func (d *DoH) Exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	if d.closed.Load() {
		return nil, fmt.Errorf("%s: %w", d, ErrClosed)
	}
	defer func() {
		if d.closed.Load() {
			// Closed meanwhile: the connection this used is idle now.
			d.transport.CloseIdleConnections()
		}
	}()
	r, err := d.exchange(ctx, m)
	if err != nil && closedByPeer(err) && ctx.Err() == nil {
		// The server closed the connection as this was sent on it:
		// the transport dials again, and the query is asked again.
		r, err = d.exchange(ctx, m)
	}
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d, err)
	}
	return r, nil
}

func (d *DoH) exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	packed, err := packPadded(m)
	if err != nil {
		return nil, err
	}
	packed[0], packed[1] = 0, 0 // the id
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(packed))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", dnsMessage)
	req.Header.Set("Accept", dnsMessage)
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP status %s", resp.Status)
	}
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct != dnsMessage {
		return nil, fmt.Errorf("content type %q, want %s", ct, dnsMessage)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, dns.MaxMsgSize+1))
	if err != nil {
		return nil, err
	}
	if len(body) > dns.MaxMsgSize {
		return nil, fmt.Errorf("response over %d bytes", dns.MaxMsgSize)
	}
	r := new(dns.Msg)
	if err := r.Unpack(body); err != nil {
		return nil, err
	}
	if r.Id != 0 {
		return nil, fmt.Errorf("%w: id %d, want 0", ErrMismatch, r.Id)
	}
	r.Id = m.Id
	return r, check(m, r)
}

// Close closes the idle connection; one in use closes when its exchanges end.
func (d *DoH) Close() error {
	d.closed.Store(true)
	d.transport.CloseIdleConnections()
	return nil
}
