package testserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ameshkov/dnscrypt/v2"
	"github.com/dnsward/dnsward/resolver"
	"github.com/miekg/dns"
)

// Server answers the synthetic zone over plain UDP/TCP and over DNSCrypt
// UDP/TCP, each pair sharing one loopback port.
type Server struct {
	// PlainAddr is the host:port of the plain DNS listeners.
	PlainAddr string
	// CryptAddr is the host:port of the DNSCrypt listeners.
	CryptAddr string
	// Stamp is the sdns:// stamp of the DNSCrypt listeners.
	Stamp string

	delay    atomic.Int64
	line     *delayLine
	silent   atomic.Bool
	keyCache bool

	mu      sync.Mutex
	counts  map[string]int
	clients map[netip.Addr]bool

	plain []*dns.Server
	crypt *dnscrypt.Server
	// cryptConns are closed by us: the library's Shutdown leaves them open.
	cryptConns []io.Closer
	cryptWG    sync.WaitGroup
	rc         dnscrypt.ResolverConfig
	serial     uint32
	logger     *slog.Logger
	wg         sync.WaitGroup
}

// Options tune a Server; the zero value listens on random loopback ports.
type Options struct {
	// PlainAddr and CryptAddr default to 127.0.0.1:0.
	PlainAddr, CryptAddr string
	// Delay is added before every answer, modelling a distant resolver.
	Delay time.Duration
	// Logger receives the DNSCrypt library's logs; nil discards them.
	Logger *slog.Logger
	// KeyCache serves DNSCrypt over UDP with each client's shared key
	// computed once, as production resolvers do, instead of through the
	// library's Server, which computes it for every query and reply.
	KeyCache bool
}

// Start binds and serves until Close.
func Start(opts Options) (*Server, error) {
	line, err := newDelayLine()
	if err != nil {
		return nil, err
	}
	s := &Server{counts: map[string]int{}, clients: map[netip.Addr]bool{}, keyCache: opts.KeyCache, line: line}
	s.delay.Store(int64(opts.Delay))
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := s.startPlain(or(opts.PlainAddr, "127.0.0.1:0")); err != nil {
		s.line.close()
		return nil, err
	}
	if err := s.startCrypt(or(opts.CryptAddr, "127.0.0.1:0"), logger); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// listenPair binds UDP and TCP on one loopback port the way dnsward does,
// with a receive buffer large enough that a benchmark's bursts queue
// instead of being dropped, as at a real resolver.
func listenPair(addr string) (*net.UDPConn, net.Listener, error) {
	ls, err := resolver.Listen([]string{addr})
	if err != nil {
		return nil, nil, fmt.Errorf("testserver: %w", err)
	}
	return ls.UDP[0], ls.TCP[0], nil
}

func (s *Server) startPlain(addr string) error {
	pc, l, err := listenPair(addr)
	if err != nil {
		return err
	}
	s.PlainAddr = pc.LocalAddr().String()
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		if m := s.respond(r, addrOf(w.RemoteAddr())); m != nil {
			if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
				m.Truncate(udpSize(r))
			}
			_ = w.WriteMsg(m)
		}
	})
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: handler}, {Listener: l, Handler: handler}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		s.plain = append(s.plain, srv)
		s.wg.Go(func() { _ = srv.ActivateAndServe() })
		<-started
	}
	return nil
}

func udpSize(r *dns.Msg) int {
	if opt := r.IsEdns0(); opt != nil && opt.UDPSize() > dns.MinMsgSize {
		return int(opt.UDPSize())
	}
	return dns.MinMsgSize
}

func (s *Server) startCrypt(addr string, logger *slog.Logger) error {
	rc, err := dnscrypt.GenerateResolverConfig("dnsward.test", nil)
	if err != nil {
		return fmt.Errorf("testserver: dnscrypt config: %w", err)
	}
	s.rc, s.logger = rc, logger
	return s.serveCrypt(addr)
}

// serveCrypt listens with a fresh short-term key and certificate signed by
// the provider key, so the stamp stays valid across rotations.
func (s *Server) serveCrypt(addr string) error {
	rc := s.rc
	rc.ResolverSk, rc.ResolverPk = "", ""
	cert, err := rc.CreateCert()
	if err != nil {
		return fmt.Errorf("testserver: dnscrypt cert: %w", err)
	}
	s.serial = max(s.serial+1, cert.Serial)
	cert.Serial = s.serial
	cert.Sign(mustHex(rc.PrivateKey))
	var keyCaching *keyCachingUDP
	if s.keyCache {
		if keyCaching, err = newKeyCachingUDP(cert, rc.ProviderName, s.respond); err != nil {
			return err
		}
	}
	pc, l, err := listenPair(addr)
	if err != nil {
		return err
	}
	s.CryptAddr = pc.LocalAddr().String()
	stamp, err := rc.CreateStamp(s.CryptAddr)
	if err != nil {
		pc.Close()
		l.Close()
		return fmt.Errorf("testserver: dnscrypt stamp: %w", err)
	}
	s.Stamp = stamp.String()
	crypt := &dnscrypt.Server{
		ProviderName: rc.ProviderName,
		ResolverCert: cert,
		Handler:      cryptHandler{s},
		Logger:       s.logger,
	}
	s.crypt, s.cryptConns = crypt, []io.Closer{pc, l}
	if keyCaching != nil {
		s.cryptWG.Go(func() { _ = keyCaching.serve(pc, &s.cryptWG) })
	} else {
		s.cryptWG.Go(func() { _ = crypt.ServeUDP(pc) })
	}
	s.cryptWG.Go(func() { _ = crypt.ServeTCP(l) })
	return waitReady(s.CryptAddr, rc.ProviderName)
}

func mustHex(s string) []byte {
	b, err := dnscrypt.HexDecodeKey(s)
	if err != nil {
		panic(err)
	}
	return b
}

// RotateCert restarts the DNSCrypt listeners with a new short-term key and
// a higher certificate serial, as a resolver rotating its key does: queries
// made with the old certificate are no longer understood.
func (s *Server) RotateCert() error {
	if err := s.stopCrypt(); err != nil {
		return fmt.Errorf("testserver: rotate: %w", err)
	}
	return s.serveCrypt(s.CryptAddr)
}

func (s *Server) stopCrypt() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.crypt.Shutdown(ctx)
	for _, c := range s.cryptConns {
		c.Close()
	}
	s.cryptWG.Wait()
	return err
}

// waitReady asks for the certificate until the DNSCrypt listener answers,
// because ServeUDP registers its socket asynchronously.
func waitReady(addr, provider string) error {
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	m := new(dns.Msg).SetQuestion(dns.Fqdn(provider), dns.TypeTXT)
	var err error
	for range 50 {
		if _, _, err = c.Exchange(m, addr); err == nil {
			return nil
		}
	}
	return fmt.Errorf("testserver: dnscrypt listener %s not ready: %w", addr, err)
}

type cryptHandler struct{ s *Server }

// ServeDNS answers a decrypted query; the library truncates for UDP.
func (h cryptHandler) ServeDNS(rw dnscrypt.ResponseWriter, r *dns.Msg) error {
	m := h.s.respond(r, addrOf(rw.RemoteAddr()))
	if m == nil {
		return nil
	}
	return rw.WriteMsg(m)
}

// respond counts the query, notes the address it came from, and builds its
// answer, or nil while silenced.
func (s *Server) respond(r *dns.Msg, from netip.Addr) *dns.Msg {
	s.mu.Lock()
	if len(r.Question) > 0 {
		s.counts[strings.ToLower(r.Question[0].Name)]++
	}
	s.clients[from] = true
	s.mu.Unlock()
	if s.silent.Load() {
		return nil
	}
	if d := time.Duration(s.delay.Load()); d > 0 {
		s.line.sleep(d)
	}
	return answer(r)
}

// Queries reports how many queries for name reached the server.
func (s *Server) Queries(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[strings.ToLower(dns.Fqdn(name))]
}

// Clients lists the addresses queries came from, in no order.
func (s *Server) Clients() []netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Collect(maps.Keys(s.clients))
}

// addrOf is a socket address's IP address.
func addrOf(a net.Addr) netip.Addr {
	ap, _ := netip.ParseAddrPort(a.String())
	return ap.Addr().Unmap()
}

// SetSilent makes the server read queries and never answer, like a
// resolver that stopped responding.
func (s *Server) SetSilent(silent bool) { s.silent.Store(silent) }

// SetDelay changes the delay added before every answer.
func (s *Server) SetDelay(d time.Duration) { s.delay.Store(int64(d)) }

// Close stops every listener and waits for the serve loops to return.
func (s *Server) Close() error {
	// Delayed answers go at once, so that no listener waits for them.
	s.line.close()
	var errs []error
	for _, srv := range s.plain {
		errs = append(errs, srv.Shutdown())
	}
	if s.crypt != nil {
		errs = append(errs, s.stopCrypt())
	}
	s.wg.Wait()
	return errors.Join(errs...)
}

// PlainUDP is the plain listener as an upstream URL.
func (s *Server) PlainUDP() string { return "udp://" + s.PlainAddr }

// ForTest starts a server on random loopback ports for a test or benchmark
// and stops it when the test ends.
func ForTest(tb testing.TB) *Server {
	tb.Helper()
	return ForTestWith(tb, Options{})
}

// ForTestWith is ForTest with opts.
func ForTestWith(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s, err := Start(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}
