package upstream

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ameshkov/dnscrypt/v2"
	"github.com/ameshkov/dnsstamps"
	"github.com/dnsward/dnsward/internal/interrupt"
	"github.com/miekg/dns"
	"golang.org/x/sync/singleflight"
)

// certRecheck is how often the certificate is fetched again even while it
// is valid, so a resolver's key rotation is followed before the old
// certificate lapses.
const certRecheck = 30 * time.Minute

// certMargin is how long before expiry a certificate stops being used.
const certMargin = time.Hour

// idleConns bounds the UDP sockets kept open for the next queries. It is
// above the hundred or so queries a busy LAN has waiting at once: with 64,
// a benchmark keeping 100 outstanding spent 5% of dnsward's CPU opening and
// closing the sockets over the limit.
const idleConns = 256

// DNSCrypt is a DNSCrypt v2 resolver given by an sdns:// stamp, reached
// directly or through Anonymized DNSCrypt relays, so that the resolver
// sees the relay's address rather than ours.
type DNSCrypt struct {
	stamp   dnsstamps.ServerStamp
	raw     string
	name    string // String's answer, built once: every cached answer names it
	timeout time.Duration

	// relays, when there are any, carry every query in turn: the one in
	// use until it fails. header names the resolver to them.
	relays []netip.AddrPort
	relay  atomic.Int32
	server netip.AddrPort
	header []byte
	// closed ends a certificate fetch through a relay at Close.
	closed context.Context
	close  context.CancelFunc

	fetch   singleflight.Group
	suspect atomic.Bool
	// idle holds UDP sockets whose last exchange succeeded, so a query
	// does not pay for a new socket. Replies are authenticated, so a
	// fixed source port gives a spoofer nothing; a socket whose exchange
	// failed may still receive its late reply, so it is closed instead.
	idle    *pool[*cryptConn]
	mu      sync.Mutex
	info    *dnscrypt.ResolverInfo
	fetched time.Time
}

// NewDNSCrypt parses an sdns:// stamp, optionally followed by relay stamps:
// sdns://SERVER|via=sdns://RELAY,sdns://RELAY. The certificate is fetched
// on first use so that start-up never waits on the network.
func NewDNSCrypt(stamp string, timeout time.Duration) (*DNSCrypt, error) {
	server, via, relayed := strings.Cut(stamp, viaPrefix)
	s, err := dnsstamps.NewServerStampFromString(server)
	if err != nil {
		return nil, fmt.Errorf("upstream stamp %q: %w", stamp, err)
	}
	if s.Proto != dnsstamps.StampProtoTypeDNSCrypt {
		return nil, fmt.Errorf("upstream stamp %q: protocol %s, want DNSCrypt", stamp, s.Proto.String())
	}
	if _, _, err := net.SplitHostPort(s.ServerAddrStr); err != nil {
		s.ServerAddrStr = net.JoinHostPort(s.ServerAddrStr, "443")
	}
	d := &DNSCrypt{stamp: s, raw: stamp, name: "dnscrypt://" + s.ProviderName + "@" + s.ServerAddrStr,
		timeout: timeout, idle: newPool[*cryptConn](idleConns)}
	d.closed, d.close = context.WithCancel(context.Background())
	if relayed {
		if d.server, err = parseIPPort(s.ServerAddrStr, 443); err != nil {
			return nil, fmt.Errorf("upstream stamp %q: relayed resolver: %w", stamp, err)
		}
		if d.relays, err = parseRelays(via); err != nil {
			return nil, fmt.Errorf("upstream stamp %q: %w", stamp, err)
		}
		d.header = relayHeader(d.server)
		addrs := make([]string, len(d.relays))
		for i, r := range d.relays {
			addrs[i] = r.String()
		}
		d.name += viaPrefix + strings.Join(addrs, ",")
	}
	return d, nil
}

// String names the resolver by provider and address; the stamp is too long
// for a log line.
func (d *DNSCrypt) String() string { return d.name }

// Exchange encrypts m, asks over UDP and retries over TCP when the answer
// is truncated. A failure marks the certificate suspect: a resolver that
// rotated its key stops answering queries made with the old one, so
// Maintain fetches it again at once rather than at the next re-check; it
// also moves on to the next relay, if there are relays.
func (d *DNSCrypt) Exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	if d.idle.closed.Load() {
		return nil, fmt.Errorf("%s: %w", d, ErrClosed)
	}
	relay := int(d.relay.Load())
	info, err := d.resolverInfo(ctx, relay)
	var r *dns.Msg
	if err == nil {
		if r, err = d.exchange(ctx, m, info, relay); err != nil {
			d.suspect.Store(true)
		}
	}
	if err != nil && !errors.Is(ctx.Err(), context.Canceled) {
		// Not given up on by the caller: the relay may be at fault.
		d.nextRelay(relay)
	}
	return r, err
}

func (d *DNSCrypt) exchange(ctx context.Context, m *dns.Msg, info *dnscrypt.ResolverInfo, relay int) (*dns.Msg, error) {
	r, err := d.ask(ctx, "udp", m, info, relay)
	if err == nil && r.Truncated {
		r, err = d.ask(ctx, "tcp", m, info, relay)
	}
	return r, err
}

func (d *DNSCrypt) ask(ctx context.Context, network string, m *dns.Msg, info *dnscrypt.ResolverInfo, relay int) (*dns.Msg, error) {
	via := d.via(relay)
	conn, err := d.conn(ctx, network, relay)
	if err != nil {
		return nil, fmt.Errorf("%s%s: %w", d, via, err)
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := interrupt.On(ctx, conn.SetDeadline)
	r, err := conn.exchange(m, info)
	if err == nil {
		err = check(m, r)
	}
	if stop() || err != nil || network != "udp" {
		conn.Close()
	} else {
		d.idle.put(conn)
	}
	if err != nil && ctx.Err() != nil {
		err = ctx.Err() // clearer than the deadline it set off
	}
	if err != nil {
		return nil, fmt.Errorf("%s over %s%s: %w", d, network, via, err)
	}
	return r, nil
}

// cryptConn is a connection to the resolver, or to the relay with index
// relay, and the buffer its replies are read into, kept with it so that a
// query allocates no read buffer. header precedes every query to a relay.
type cryptConn struct {
	net.Conn
	buf    []byte
	relay  int
	header []byte
	out    []byte // header and query
}

// errOtherNonce marks a reply that decrypts but answers another query.
var errOtherNonce = errors.New("reply carries another query's nonce")

// exchange sends m encrypted and returns the decrypted reply. It is the
// library client's exchange with the buffer kept and one check added: the
// reply must echo this query's nonce.
func (c *cryptConn) exchange(m *dns.Msg, info *dnscrypt.ResolverInfo) (*dns.Msg, error) {
	packed, err := m.PackBuffer(c.buf)
	if err != nil {
		return nil, err
	}
	q := dnscrypt.EncryptedQuery{EsVersion: info.ResolverCert.EsVersion, ClientMagic: info.ResolverCert.ClientMagic, ClientPk: info.PublicKey}
	wire, err := q.Encrypt(packed, info.SharedKey)
	if err != nil {
		return nil, err
	}
	reply, err := c.roundTrip(wire)
	if err != nil {
		return nil, err
	}
	resp := dnscrypt.EncryptedResponse{EsVersion: q.EsVersion}
	plain, err := resp.Decrypt(reply, info.SharedKey)
	if err != nil {
		return nil, err
	}
	// The first half of the reply's nonce is the query's.
	if !bytes.Equal(resp.Nonce[:len(q.Nonce)/2], q.Nonce[:len(q.Nonce)/2]) {
		return nil, errOtherNonce
	}
	r := new(dns.Msg)
	if err := r.Unpack(plain); err != nil {
		return nil, err
	}
	return r, nil
}

// roundTrip writes one query and reads its reply; over TCP both carry a
// two-byte length.
func (c *cryptConn) roundTrip(query []byte) ([]byte, error) {
	if c.header != nil {
		// One write: over UDP, one datagram.
		c.out = append(append(c.out[:0], c.header...), query...)
		query = c.out
	}
	if _, tcp := c.Conn.(*net.TCPConn); !tcp {
		if _, err := c.Write(query); err != nil {
			return nil, err
		}
		n, err := c.Read(c.buf)
		return c.buf[:n], err
	}
	prefix := binary.BigEndian.AppendUint16(nil, uint16(len(query)))
	if _, err := (&net.Buffers{prefix, query}).WriteTo(c.Conn); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(c, c.buf[:2]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(c.buf))
	if n > len(c.buf) {
		c.buf = make([]byte, n)
	}
	_, err := io.ReadFull(c, c.buf[:n])
	return c.buf[:n], err
}

// conn returns an idle UDP socket, or a new connection, to the resolver
// or the relay given.
func (d *DNSCrypt) conn(ctx context.Context, network string, relay int) (*cryptConn, error) {
	for network == "udp" {
		c, ok := d.idle.get()
		if !ok {
			break
		}
		if c.relay == relay {
			return c, nil
		}
		c.Close() // to a relay no longer in use
	}
	addr := d.stamp.ServerAddrStr
	if len(d.relays) > 0 {
		addr = d.relays[relay].String()
	}
	var dialer net.Dialer
	c, err := dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &cryptConn{Conn: c, buf: make([]byte, dns.DefaultMsgSize), relay: relay, header: d.header}, nil
}

// Close closes the idle sockets and ends a certificate fetch through a
// relay; sockets in use close when their exchange ends.
func (d *DNSCrypt) Close() error {
	d.close()
	d.idle.close()
	return nil
}

// resolverInfo returns the current certificate, fetching it only when there
// is none or it is about to expire; routine re-checks happen in Maintain.
func (d *DNSCrypt) resolverInfo(ctx context.Context, relay int) (*dnscrypt.ResolverInfo, error) {
	d.mu.Lock()
	info := d.info
	d.mu.Unlock()
	if info != nil && time.Now().Add(certMargin).Before(notAfter(info)) {
		return info, nil
	}
	return d.refetch(ctx, info, relay)
}

// Maintain fetches the certificate again, in the background, when it is
// due a re-check or an exchange failed, so a key rotation is followed
// without waiting for the old certificate to lapse.
func (d *DNSCrypt) Maintain(ctx context.Context) {
	d.mu.Lock()
	info, fetched := d.info, d.fetched
	d.mu.Unlock()
	if info != nil && (d.suspect.Swap(false) || time.Since(fetched) >= certRecheck) {
		_, _ = d.refetch(ctx, info, int(d.relay.Load()))
	}
}

// refetch fetches the certificate, through relay when there are relays,
// unless one newer than old was fetched meanwhile. Concurrent callers
// share one fetch per relay and each waits only as long as its own
// context allows; a caller that gave up on one relay can try the next.
func (d *DNSCrypt) refetch(ctx context.Context, old *dnscrypt.ResolverInfo, relay int) (*dnscrypt.ResolverInfo, error) {
	ch := d.fetch.DoChan(strconv.Itoa(relay), func() (any, error) {
		d.mu.Lock()
		cur := d.info
		d.mu.Unlock()
		if cur != old {
			return cur, nil
		}
		return d.fetchCert(old, relay)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*dnscrypt.ResolverInfo), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: fetching certificate%s: %w", d, d.via(relay), ctx.Err())
	}
}

func (d *DNSCrypt) fetchCert(old *dnscrypt.ResolverInfo, relay int) (*dnscrypt.ResolverInfo, error) {
	info, err := d.dialStamp(relay)
	if err != nil {
		if old != nil && time.Now().Before(notAfter(old)) {
			// The old certificate is still valid: keep answering with it
			// and let Maintain try again in a minute.
			d.mu.Lock()
			d.fetched = time.Now().Add(time.Minute - certRecheck)
			d.mu.Unlock()
			return old, nil
		}
		return nil, fmt.Errorf("%s: fetching certificate: %w", d, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if old != nil && d.info == old && bytes.Equal(info.ResolverCert.ResolverPk[:], old.ResolverCert.ResolverPk[:]) &&
		info.ResolverCert.Serial == old.ResolverCert.Serial {
		// Nothing changed: keep the old keys, so callers can tell.
		d.fetched = time.Now()
		return old, nil
	}
	d.info, d.fetched = info, time.Now()
	return info, nil
}

func notAfter(info *dnscrypt.ResolverInfo) time.Time {
	return time.Unix(int64(info.ResolverCert.NotAfter), 0)
}
