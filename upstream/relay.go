package upstream

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/ameshkov/dnscrypt/v2"
	"github.com/ameshkov/dnscrypt/v2/xsecretbox"
	"github.com/miekg/dns"
	"golang.org/x/crypto/nacl/box"
)

// viaPrefix starts the relay list of an upstream: sdns://SERVER|via=RELAY,….
const viaPrefix = "|via="

// relayMagic starts every query sent through an Anonymized DNSCrypt relay.
var relayMagic = []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00}

// relayStampProto is the protocol byte of a relay stamp (sdns://gQ…),
// which dnsstamps does not parse.
const relayStampProto = 0x81

// parseRelayStamp returns the address of a DNSCrypt relay stamp:
// 0x81, then the length-prefixed IP address, with an optional port.
func parseRelayStamp(s string) (netip.AddrPort, error) {
	b64, ok := strings.CutPrefix(s, "sdns://")
	if !ok {
		return netip.AddrPort{}, errors.New("not an sdns:// stamp")
	}
	bin, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if len(bin) < 2 || bin[0] != relayStampProto {
		return netip.AddrPort{}, errors.New("not a DNSCrypt relay stamp")
	}
	if len(bin) != 2+int(bin[1]) {
		return netip.AddrPort{}, errors.New("invalid relay stamp")
	}
	return parseIPPort(string(bin[2:]), 443)
}

// parseIPPort reads an IP address with an optional port, IPv6 in brackets.
func parseIPPort(s string, port uint16) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: want an IP address with an optional port", s)
	}
	return netip.AddrPortFrom(a, port), nil
}

// relayHeader is what precedes every query to server through a relay:
// the magic, then the server's IPv6 (or IPv4-mapped) address and port.
func relayHeader(server netip.AddrPort) []byte {
	ip := server.Addr().As16()
	h := append(append([]byte{}, relayMagic...), ip[:]...)
	return binary.BigEndian.AppendUint16(h, server.Port())
}

// dialStamp fetches the resolver's certificate, directly or through the
// relay given.
func (d *DNSCrypt) dialStamp(relay int) (*dnscrypt.ResolverInfo, error) {
	if len(d.relays) == 0 {
		return (&dnscrypt.Client{Net: "udp", Timeout: d.timeout}).DialStamp(d.stamp)
	}
	info, err := d.fetchRelayed(d.relays[relay])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.via(relay)[1:], err)
	}
	return info, nil
}

// via names the relay given for errors: " via relay host:port", or
// nothing when there are no relays.
func (d *DNSCrypt) via(relay int) string {
	if len(d.relays) == 0 {
		return ""
	}
	return " via relay " + d.relays[relay].String()
}

// nextRelay moves on from a relay that failed, unless another exchange
// has already.
func (d *DNSCrypt) nextRelay(failed int) {
	if len(d.relays) > 1 {
		d.relay.CompareAndSwap(int32(failed), int32((failed+1)%len(d.relays)))
	}
}

// parseRelays reads the relays after a DNSCrypt stamp.
func parseRelays(list string) ([]netip.AddrPort, error) {
	var relays []netip.AddrPort
	for s := range strings.SplitSeq(list, ",") {
		ap, err := parseRelayStamp(s)
		if err != nil {
			return nil, fmt.Errorf("relay %q: %w", s, err)
		}
		relays = append(relays, ap)
	}
	return relays, nil
}

// fetchRelayed fetches the resolver's certificate through a relay, as the
// library's DialStamp does directly: a query for the provider name's TXT
// records, each a certificate; the newest valid one is used.
func (d *DNSCrypt) fetchRelayed(relay netip.AddrPort) (*dnscrypt.ResolverInfo, error) {
	conn, err := net.DialTimeout("udp", relay.String(), d.timeout)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	defer context.AfterFunc(d.closed, func() { conn.Close() })()
	_ = conn.SetDeadline(time.Now().Add(d.timeout))
	q := new(dns.Msg).SetQuestion(dns.Fqdn(d.stamp.ProviderName), dns.TypeTXT)
	packed, err := q.Pack()
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write(append(relayHeader(d.server), packed...)); err != nil {
		return nil, err
	}
	buf := make([]byte, dns.MaxMsgSize)
	n, err := conn.Read(buf)
	if err != nil {
		return nil, err
	}
	r := new(dns.Msg)
	if err := r.Unpack(buf[:n]); err != nil {
		return nil, err
	}
	if err := check(q, r); err != nil {
		return nil, err
	}
	cert, err := newestCert(r, d.stamp.ServerPk, buf)
	if err != nil {
		return nil, err
	}
	return d.newResolverInfo(cert)
}

// newestCert returns the certificate of r's TXT records that is valid,
// signed by the provider's key pk, and newest (by serial, then by
// encryption), as the library picks it; buf is scratch space.
func newestCert(r *dns.Msg, pk []byte, buf []byte) (*dnscrypt.Cert, error) {
	var best *dnscrypt.Cert
	for _, rr := range r.Answer {
		if _, ok := rr.(*dns.TXT); !ok {
			continue
		}
		// The record's wire form holds the certificate's raw bytes,
		// which the presentation form in dns.TXT escapes.
		end, err := dns.PackRR(rr, buf, 0, nil, false)
		if err != nil {
			continue
		}
		var raw []byte
		for rdata := buf[end-int(rr.Header().Rdlength) : end]; len(rdata) > 0 && len(rdata) > int(rdata[0]); rdata = rdata[1+rdata[0]:] {
			raw = append(raw, rdata[1:1+rdata[0]]...)
		}
		c := new(dnscrypt.Cert)
		if c.Deserialize(raw) != nil || !c.VerifyDate() || !c.VerifySignature(pk) {
			continue
		}
		if best == nil || c.Serial > best.Serial || c.Serial == best.Serial && c.EsVersion > best.EsVersion {
			best = c
		}
	}
	if best == nil {
		return nil, errors.New("no valid certificate")
	}
	return best, nil
}

// newResolverInfo makes a new client key pair and the key it shares with
// the resolver's certificate.
func (d *DNSCrypt) newResolverInfo(cert *dnscrypt.Cert) (*dnscrypt.ResolverInfo, error) {
	pub, sec, err := box.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	info := &dnscrypt.ResolverInfo{SecretKey: *sec, PublicKey: *pub, ServerPublicKey: d.stamp.ServerPk,
		ServerAddress: d.stamp.ServerAddrStr, ProviderName: d.stamp.ProviderName, ResolverCert: cert}
	switch cert.EsVersion {
	case dnscrypt.XSalsa20Poly1305:
		box.Precompute(&info.SharedKey, &cert.ResolverPk, sec)
	case dnscrypt.XChacha20Poly1305:
		if info.SharedKey, err = xsecretbox.SharedKey(*sec, cert.ResolverPk); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("certificate encryption %s not supported", cert.EsVersion)
	}
	return info, nil
}
