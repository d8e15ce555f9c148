package resolver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/dnsward/dnsward/upstream"
	"github.com/miekg/dns"
)

// udpReadBuffer is large so that bursts queue in the kernel instead of
// being dropped while the handlers catch up.
const udpReadBuffer = 8 << 20

// Listeners are the sockets bound before privileges are dropped.
type Listeners struct {
	UDP []*net.UDPConn
	TCP []net.Listener
}

// Listen binds UDP and TCP on every address.
func Listen(addrs []string) (*Listeners, error) {
	ls := &Listeners{}
	for _, addr := range addrs {
		ua, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			ls.Close()
			return nil, fmt.Errorf("listen %s: %w", addr, err)
		}
		pc, err := net.ListenUDP("udp", ua)
		if err != nil {
			ls.Close()
			return nil, fmt.Errorf("listen udp %s: %w", addr, err)
		}
		_ = pc.SetReadBuffer(udpReadBuffer)
		ls.UDP = append(ls.UDP, pc)
		// A port of 0 asks for any port; TCP then takes the one UDP got.
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			ls.Close()
			return nil, fmt.Errorf("listen tcp %s: %w", addr, err)
		}
		ls.TCP = append(ls.TCP, l)
	}
	return ls, nil
}

// Close releases every socket.
func (ls *Listeners) Close() {
	for _, pc := range ls.UDP {
		pc.Close()
	}
	for _, l := range ls.TCP {
		l.Close()
	}
}

// Server answers DNS on bound listeners through the pipeline.
type Server struct {
	Pipeline Stage
	Limits   Limits
	Logger   *slog.Logger
	// Done, when set, is told about every answered query; it must not
	// change the response.
	Done func(q *Query, resp *dns.Msg)
}

// Serve answers until ctx is done, then stops accepting, lets in-flight
// queries finish and returns.
func (s *Server) Serve(ctx context.Context, ls *Listeners) error {
	var servers []*dns.Server
	for _, pc := range ls.UDP {
		servers = append(servers, &dns.Server{PacketConn: pc, Handler: s})
	}
	for _, l := range ls.TCP {
		servers = append(servers, &dns.Server{
			Listener:      limitListener(l, s.Limits.TCPPerClient, s.Limits.TCPTotal),
			Handler:       s,
			ReadTimeout:   5 * time.Second,
			IdleTimeout:   func() time.Duration { return 10 * time.Second },
			MaxTCPQueries: 1000,
		})
	}
	errc := make(chan error, len(servers))
	var wg sync.WaitGroup
	for _, srv := range servers {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		wg.Go(func() { errc <- srv.ActivateAndServe() })
		select {
		case <-started:
		case err := <-errc:
			return err
		}
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for _, srv := range servers {
		_ = srv.ShutdownContext(shutdown)
	}
	wg.Wait()
	return err
}

// ServeDNS answers one query; it implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	q := &Query{Req: r, Start: time.Now(), Client: addrPort(w.RemoteAddr()), Proto: "udp"}
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		q.Proto = "tcp"
	}
	resp := s.answer(q)
	s.finish(q, resp)
	// Told before the client is answered, so that an answer a client has
	// seen always has its log record queued.
	if s.Done != nil {
		s.Done(q, resp)
	}
	if err := w.WriteMsg(resp); err != nil {
		s.Logger.Debug("write failed", "client", q.Client, "err", err)
	}
}

func (s *Server) answer(q *Query) *dns.Msg {
	r := q.Req
	// miekg/dns already ignores responses and answers other opcodes with
	// NOTIMP; a message that reaches here is a query.
	if len(r.Question) != 1 {
		q.Source = "local"
		return reply(q, dns.RcodeFormatError)
	}
	if opt := r.IsEdns0(); opt != nil && opt.Version() != 0 {
		q.Source = "local"
		m := reply(q, dns.RcodeBadVers)
		m.SetEdns0(upstream.EDNSSize, false)
		return m
	}
	resp, err := s.Pipeline.Answer(context.Background(), q)
	if err != nil {
		s.Logger.Warn("query failed", "client", q.Client, "name", q.Question().Name,
			"type", dns.TypeToString[q.Question().Qtype], "err", err)
		return reply(q, dns.RcodeServerFailure)
	}
	return resp
}

// finish makes a stage's answer the reply to this client: its id, its
// question as it spelled it, our EDNS and, over UDP, its size limit.
func (s *Server) finish(q *Query, m *dns.Msg) {
	r := q.Req
	m.Id = r.Id
	m.Response = true
	m.Opcode = r.Opcode
	m.RecursionDesired = r.RecursionDesired
	m.RecursionAvailable = true
	// Only dnsward's own local data is authoritative; an upstream's AA
	// bit says nothing about this answer.
	m.Authoritative = q.Source == "local"
	m.CheckingDisabled = r.CheckingDisabled
	m.Question = r.Question
	m.Compress = true
	m.Extra = withoutOPT(m.Extra)
	size := dns.MinMsgSize
	if opt := r.IsEdns0(); opt != nil {
		m.SetEdns0(upstream.EDNSSize, opt.Do())
		size = max(int(opt.UDPSize()), dns.MinMsgSize)
	}
	if q.Proto == "udp" {
		m.Truncate(size)
	}
	if len(r.Question) == 1 {
		s.Logger.Debug("answered", "client", q.Client, "proto", q.Proto, "name", r.Question[0].Name,
			"type", dns.TypeToString[r.Question[0].Qtype], "rcode", dns.RcodeToString[m.Rcode],
			"source", q.Source, "upstream", q.Upstream, "took", time.Since(q.Start))
	}
}

func addrPort(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort()
	case *net.TCPAddr:
		return a.AddrPort()
	}
	return netip.AddrPort{}
}
