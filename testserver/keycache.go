package testserver

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/ameshkov/dnscrypt/v2"
	"github.com/miekg/dns"
	"golang.org/x/crypto/nacl/box"
	"golang.org/x/crypto/nacl/secretbox"
)

// Sizes of a DNSCrypt query's clear header: <client-magic> <client-pk>
// <client-nonce>, the nonce being half of the 24 bytes XSalsa20 takes.
const (
	magicLen    = 8
	keyLen      = 32
	halfNonce   = 12
	queryHeader = magicLen + keyLen + halfNonce
)

// maxCachedKeys bounds the shared-key cache; past it the cache starts over,
// which costs one X25519 computation per client and nothing else.
const maxCachedKeys = 4096

// keyCachingUDP answers DNSCrypt over UDP the way production resolvers do:
// the shared key of a client's public key is computed once and kept
// (encrypted-dns-server's key cache), where the library's Server computes
// it for every query and again for every reply. Those X25519 computations
// made the test resolver, not the forwarder under test, what bounded a
// benchmark of cache misses.
type keyCachingUDP struct {
	cert     *dnscrypt.Cert
	provider string // fully qualified, lower case
	certTXT  string
	respond  func(*dns.Msg, netip.Addr) *dns.Msg

	mu   sync.Mutex
	keys map[[keyLen]byte][keyLen]byte
}

func newKeyCachingUDP(cert *dnscrypt.Cert, provider string, respond func(*dns.Msg, netip.Addr) *dns.Msg) (*keyCachingUDP, error) {
	if cert.EsVersion != dnscrypt.XSalsa20Poly1305 {
		return nil, fmt.Errorf("testserver: key cache: certificate uses %s, only XSalsa20Poly1305 is served", cert.EsVersion)
	}
	raw, err := cert.Serialize()
	if err != nil {
		return nil, fmt.Errorf("testserver: key cache: %w", err)
	}
	return &keyCachingUDP{cert: cert, provider: strings.ToLower(dns.Fqdn(provider)),
		certTXT: escapeTXT(raw), respond: respond, keys: map[[keyLen]byte][keyLen]byte{}}, nil
}

// escapeTXT writes every byte as \DDD, the presentation form miekg/dns
// packs back into the raw bytes.
func escapeTXT(raw []byte) string {
	var b strings.Builder
	for _, c := range raw {
		fmt.Fprintf(&b, "\\%03d", c)
	}
	return b.String()
}

// serve reads datagrams from conn until it is closed, answering each in a
// goroutine of wg's so that a delayed answer holds up no other.
func (k *keyCachingUDP) serve(conn *net.UDPConn, wg *sync.WaitGroup) error {
	buf := make([]byte, dns.MaxMsgSize)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		packet := bytes.Clone(buf[:n])
		wg.Go(func() { k.handle(conn, packet, from) })
	}
}

func (k *keyCachingUDP) handle(conn *net.UDPConn, packet []byte, from netip.AddrPort) {
	var reply []byte
	if bytes.HasPrefix(packet, k.cert.ClientMagic[:]) {
		reply = k.answerEncrypted(packet, from.Addr().Unmap())
	} else {
		reply = k.answerCertQuery(packet)
	}
	if reply != nil {
		_, _ = conn.WriteToUDPAddrPort(reply, from)
	}
}

// answerCertQuery answers the clear TXT query for the provider name with
// the certificate; anything else gets no answer, as from the library.
func (k *keyCachingUDP) answerCertQuery(packet []byte) []byte {
	q := new(dns.Msg)
	if q.Unpack(packet) != nil || q.Response || len(q.Question) != 1 ||
		q.Question[0].Qtype != dns.TypeTXT || strings.ToLower(q.Question[0].Name) != k.provider {
		return nil
	}
	m := new(dns.Msg).SetReply(q)
	m.Authoritative, m.RecursionAvailable = true, true
	m.Answer = []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60},
		Txt: []string{k.certTXT}}}
	wire, _ := m.Pack()
	return wire
}

// answerEncrypted decrypts a query, answers it and encrypts the answer;
// a query that does not decrypt is dropped, as by the library.
func (k *keyCachingUDP) answerEncrypted(packet []byte, from netip.Addr) []byte {
	if len(packet) < queryHeader+secretbox.Overhead {
		return nil
	}
	key := k.sharedKey([keyLen]byte(packet[magicLen : magicLen+keyLen]))
	var nonce [24]byte
	copy(nonce[:halfNonce], packet[magicLen+keyLen:queryHeader])
	padded, ok := secretbox.Open(nil, packet[queryHeader:], &nonce, &key)
	if !ok {
		return nil
	}
	req := new(dns.Msg)
	if req.Unpack(unpad(padded)) != nil || req.Response || len(req.Question) != 1 {
		return nil
	}
	m := k.respond(req, from)
	if m == nil {
		return nil
	}
	// The library leaves 64 bytes of a client's size for DNSCrypt's own
	// framing, and never answers UDP with a truncated answer section.
	if m.Truncate(udpSize(req) - 64); m.Truncated {
		m.Answer = nil
	}
	wire, err := m.Pack()
	if err != nil {
		return nil
	}
	r := dnscrypt.EncryptedResponse{EsVersion: k.cert.EsVersion}
	copy(r.Nonce[:halfNonce], nonce[:halfNonce])
	reply, err := r.Encrypt(wire, key)
	if err != nil {
		return nil
	}
	return reply
}

// sharedKey returns the XSalsa20 key shared with the client's public key.
func (k *keyCachingUDP) sharedKey(clientPk [keyLen]byte) [keyLen]byte {
	k.mu.Lock()
	key, ok := k.keys[clientPk]
	k.mu.Unlock()
	if ok {
		return key
	}
	box.Precompute(&key, &clientPk, &k.cert.ResolverSk)
	k.mu.Lock()
	if len(k.keys) >= maxCachedKeys {
		clear(k.keys)
	}
	k.keys[clientPk] = key
	k.mu.Unlock()
	return key
}

// unpad strips DNSCrypt's padding, 0x80 then zeros; a packet without it
// comes back empty, which does not unpack.
func unpad(padded []byte) []byte {
	body, ok := bytes.CutSuffix(bytes.TrimRight(padded, "\x00"), []byte{0x80})
	if !ok {
		return nil
	}
	return body
}
