package testserver

import (
	"context"
	"crypto/rand"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/ameshkov/dnscrypt/v2"
	"github.com/dnsward/dnsward/upstream"
	"github.com/miekg/dns"
	"golang.org/x/crypto/nacl/box"
)

// TestKeyCacheAnswersAsTheLibraryDoes asks both DNSCrypt servers through
// the library's client and through dnsward's, including an answer too big
// for the client's UDP size, which is truncated and fetched again over TCP.
func TestKeyCacheAnswersAsTheLibraryDoes(t *testing.T) {
	name := "k1.gen.test."
	for _, tc := range []struct {
		name     string
		keyCache bool
	}{{"library server", false}, {"key cache", true}} {
		t.Run(tc.name, func(t *testing.T) {
			s := ForTestWith(t, Options{KeyCache: tc.keyCache})
			client := &dnscrypt.Client{Net: "udp", Timeout: 5 * time.Second}
			info, err := client.Dial(s.Stamp)
			if err != nil {
				t.Fatalf("certificate: %v", err)
			}
			for range 3 {
				r, err := client.Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), info)
				if err != nil {
					t.Fatalf("library client: %v", err)
				}
				if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != GeneratedAddr(name).String() {
					t.Fatalf("library client got %v, want %s", r.Answer, GeneratedAddr(name))
				}
			}
			q := new(dns.Msg).SetQuestion(BigName, dns.TypeTXT)
			q.SetEdns0(upstream.EDNSSize, false)
			r, err := client.Exchange(q, info)
			if err != nil {
				t.Fatalf("library client, big answer: %v", err)
			}
			if !r.Truncated || len(r.Answer) != 0 {
				t.Fatalf("big answer over UDP: truncated %v with %d records, want truncated and none", r.Truncated, len(r.Answer))
			}
			up, err := upstream.NewDNSCrypt(s.Stamp, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			r, err = up.Exchange(ctx, q)
			if err != nil {
				t.Fatalf("dnsward's client: %v", err)
			}
			if want := len(answer(q).Answer); r.Truncated || len(r.Answer) != want {
				t.Fatalf("big answer: truncated %v, %d records, want %d", r.Truncated, len(r.Answer), want)
			}
		})
	}
}

// TestKeyCacheComputesOneKeyPerClient checks that a client's key is
// computed once and is the one the library would compute.
func TestKeyCacheComputesOneKeyPerClient(t *testing.T) {
	rc, err := dnscrypt.GenerateResolverConfig("dnsward.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := rc.CreateCert()
	if err != nil {
		t.Fatal(err)
	}
	k, err := newKeyCachingUDP(cert, rc.ProviderName, func(req *dns.Msg, _ netip.Addr) *dns.Msg { return answer(req) })
	if err != nil {
		t.Fatal(err)
	}
	clients := make([][keyLen]byte, 2)
	for i := range clients {
		pk, _, err := box.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		clients[i] = *pk
	}
	for range 3 {
		for _, pk := range clients {
			var want [keyLen]byte
			box.Precompute(&want, &pk, &cert.ResolverSk)
			if got := k.sharedKey(pk); got != want {
				t.Fatalf("shared key %x, want %x", got, want)
			}
		}
	}
	if len(k.keys) != len(clients) {
		t.Fatalf("%d keys cached for %d clients", len(k.keys), len(clients))
	}
}

// TestKeyCacheIgnoresWhatItCannotAnswer sends what a DNSCrypt server must
// not answer, then checks the server still answers a real query.
func TestKeyCacheIgnoresWhatItCannotAnswer(t *testing.T) {
	s := ForTestWith(t, Options{KeyCache: true})
	client := &dnscrypt.Client{Net: "udp", Timeout: 5 * time.Second}
	info, err := client.Dial(s.Stamp)
	if err != nil {
		t.Fatal(err)
	}
	otherTXT, err := new(dns.Msg).SetQuestion("other.test.", dns.TypeTXT).Pack()
	if err != nil {
		t.Fatal(err)
	}
	garbled := append(info.ResolverCert.ClientMagic[:], make([]byte, 200)...)
	for _, tc := range []struct {
		name   string
		packet []byte
	}{
		{"clear TXT query for another name", otherTXT},
		{"client magic then bytes that do not decrypt", garbled},
		{"client magic alone", info.ResolverCert.ClientMagic[:]},
		{"not DNS", []byte{1, 2, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("udp", s.CryptAddr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(tc.packet); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if n, err := c.Read(make([]byte, 512)); err == nil {
				t.Fatalf("answered with %d bytes", n)
			}
			if _, err := client.Exchange(new(dns.Msg).SetQuestion("after.gen.test.", dns.TypeA), info); err != nil {
				t.Fatalf("next query: %v", err)
			}
		})
	}
}
