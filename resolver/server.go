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
		pc, l, err := listenPair(addr)
		if err != nil {
			ls.Close()
			return nil, err
		}
		ls.UDP = append(ls.UDP, pc)
		ls.TCP = append(ls.TCP, l)
	}
	return ls, nil
}

// listenPair binds UDP and TCP on one port. A port of 0 asks for any port:
// TCP then takes the one UDP got, and another is tried when that one is
// free for UDP but taken for TCP.
func listenPair(addr string) (*net.UDPConn, net.Listener, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	for try := 1; ; try++ {
		// net's errors already say "listen udp ADDR: ...".
		pc, err := net.ListenUDP("udp", ua)
		if err != nil {
			return nil, nil, err
		}
		_ = pc.SetReadBuffer(udpReadBuffer)
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, l, nil
		}
		pc.Close()
		if ua.Port != 0 || try == 10 {
			return nil, nil, err
		}
	}
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
	// change the response, and must call q.Keep (LogEntry does) to hold on
	// to q or its request past its return: a UDP query may be reused.
	Done func(q *Query, resp *dns.Msg)

	failures sampler
}

// Serve answers until ctx is done, then stops accepting, lets in-flight
// queries finish and returns.
func (s *Server) Serve(ctx context.Context, ls *Listeners) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var tcp []*dns.Server
	for _, l := range ls.TCP {
		l = writeBoundedListener{l}
		if filter, ok := s.Pipeline.(ClientFilter); ok {
			l = filteredListener{l, filter}
		}
		// No cap on queries per connection: closing at a cap with
		// queries unread makes the kernel reset the connection and lose
		// answers already written. miekg/dns answers one query at a time
		// per connection, so a client pipelining more holds no more than
		// one query's worth of the server.
		tcp = append(tcp, &dns.Server{
			Listener:      limitListener(l, s.Limits.TCPPerClient, s.Limits.TCPTotal),
			Handler:       s,
			ReadTimeout:   5 * time.Second,
			IdleTimeout:   func() time.Duration { return 10 * time.Second },
			MaxTCPQueries: -1,
		})
	}
	errc := make(chan error, len(ls.UDP)+len(tcp))
	var wg sync.WaitGroup
	for _, pc := range ls.UDP {
		u, err := newUDPServer(s, pc)
		if err != nil {
			cancel()
			wg.Wait()
			return fmt.Errorf("listen udp %s: %w", pc.LocalAddr(), err)
		}
		wg.Go(func() { stopReading(ctx, pc) })
		wg.Go(func() {
			if err := u.serve(); err != nil {
				errc <- fmt.Errorf("udp %s: %w", pc.LocalAddr(), err)
			}
		})
	}
	var started []*dns.Server
	for _, srv := range tcp {
		up := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(up) }
		wg.Go(func() { errc <- srv.ActivateAndServe() })
		select {
		case <-up:
			started = append(started, srv)
		case err := <-errc:
			cancel()
			shutdownAll(ctx, started)
			wg.Wait()
			return err
		}
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cancel()
	shutdownAll(ctx, started)
	wg.Wait()
	return err
}

// shutdownAll stops the TCP servers, giving their queries a while to
// finish.
func shutdownAll(ctx context.Context, servers []*dns.Server) {
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for _, srv := range servers {
		_ = srv.ShutdownContext(shutdown)
	}
}

// ServeDNS answers one query over TCP; it implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	q := &Query{Req: r, Start: time.Now(), Client: addrPort(w.RemoteAddr()), Proto: "tcp"}
	resp, wait := s.answer(q)
	if wait != nil {
		resp = s.await(q, wait)
	}
	if _, err := w.Write(s.reply(nil, q, resp)); err != nil {
		s.Logger.Debug("write failed", "client", q.Client, "err", err)
	}
}

// answer runs q through the pipeline once. It returns the answer, or the
// deferral the caller must wait for and settle.
func (s *Server) answer(q *Query) (*dns.Msg, *Deferred) {
	if m := refuseLocally(q); m != nil {
		q.Source = SourceLocal
		return m, nil
	}
	resp, err := s.Pipeline.Answer(context.Background(), q)
	if d, ok := err.(*Deferred); ok {
		return nil, d
	}
	return s.settle(q, resp, err), nil
}

// await waits for the deferred answer to q and settles it.
func (s *Server) await(q *Query, d *Deferred) *dns.Msg {
	resp, err := d.Wait(context.Background())
	return s.settle(q, resp, err)
}

// settle is the answer to q, or SERVFAIL when the pipeline failed.
func (s *Server) settle(q *Query, resp *dns.Msg, err error) *dns.Msg {
	if err != nil {
		q.Err = err
		if skipped, ok := s.failures.allow(time.Now(), failLogEvery); ok {
			s.Logger.Warn("query failed", "client", q.Client, "name", q.Question().Name,
				"type", dns.TypeToString[q.Question().Qtype], "err", err, "failures_not_logged_before", skipped)
		}
		return reply(q, dns.RcodeServerFailure)
	}
	return resp
}

// refuseLocally answers, without asking upstream, what a forwarding
// resolver must not pass on (as unbound does): other opcodes than QUERY
// (NOTIFY, UPDATE) get NOTIMP, a message without exactly one question or
// with more than one OPT (RFC 6891 6.1.1) FORMERR, an unknown EDNS version
// BADVERS, and CHAOS-class questions and zone transfers REFUSED. It
// returns nil for a query the pipeline answers.
func refuseLocally(q *Query) *dns.Msg {
	r := q.Req
	// Responses are dropped, and opcodes miekg/dns does not know are
	// answered NOTIMP, before this.
	if r.Opcode != dns.OpcodeQuery {
		return reply(q, dns.RcodeNotImplemented)
	}
	if len(r.Question) != 1 || countOPT(r.Extra) > 1 {
		return reply(q, dns.RcodeFormatError)
	}
	if opt := r.IsEdns0(); opt != nil && opt.Version() != 0 {
		m := reply(q, dns.RcodeBadVers)
		m.SetEdns0(upstream.EDNSSize, false)
		return m
	}
	switch question := r.Question[0]; {
	case question.Qclass == dns.ClassCHAOS, question.Qtype == dns.TypeAXFR, question.Qtype == dns.TypeIXFR:
		return reply(q, dns.RcodeRefused)
	}
	return nil
}

func countOPT(extra []dns.RR) int {
	n := 0
	for _, rr := range extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			n++
		}
	}
	return n
}

// reply appends the wire form of resp, as the answer to q, to dst. Done
// is told before the reply is returned, so that an answer a client has
// seen always has its log record queued.
func (s *Server) reply(dst []byte, q *Query, resp *dns.Msg) []byte {
	limit := dns.MaxMsgSize
	if q.Proto == "udp" {
		limit = dns.MinMsgSize
		if opt := q.Req.IsEdns0(); opt != nil {
			limit = max(int(opt.UDPSize()), dns.MinMsgSize)
		}
	}
	if q.fromCache(resp) {
		if wire, ok := q.hit.entry.packed.appendReply(dst, q.Req, q.hit.age, limit); ok {
			q.wireReply = true
			s.done(q, resp)
			return wire
		}
		// Too big for this client, or a question spelled with escapes:
		// answered from a copy of the message instead.
		resp = q.hit.entry.aged(q.hit.age)
	}
	s.finish(q, resp, limit)
	wire, err := resp.PackBuffer(dst[:cap(dst)])
	if err != nil {
		s.Logger.Warn("reply does not pack", "client", q.Client, "name", q.Req.Question[0].Name, "err", err)
		q.Source = SourceLocal
		resp = reply(q, dns.RcodeServerFailure)
		s.finish(q, resp, limit)
		wire, _ = resp.Pack()
	}
	s.done(q, resp)
	return wire
}

func (s *Server) done(q *Query, resp *dns.Msg) {
	// Checked first: building the arguments costs more than a cache hit.
	if len(q.Req.Question) == 1 && s.Logger.Enabled(context.Background(), slog.LevelDebug) {
		s.Logger.Debug("answered", "client", q.Client, "proto", q.Proto, "name", q.Req.Question[0].Name,
			"type", dns.TypeToString[q.Req.Question[0].Qtype], "rcode", dns.RcodeToString[resp.Rcode],
			"source", q.Source, "upstream", q.Upstream, "took", time.Since(q.Start))
	}
	if s.Done != nil {
		s.Done(q, resp)
	}
}

// finish makes a stage's answer the reply to this client: its id, its
// question as it spelled it, our EDNS and, over UDP, its size limit.
func (s *Server) finish(q *Query, m *dns.Msg, limit int) {
	r := q.Req
	m.Id = r.Id
	m.Response = true
	m.Opcode = r.Opcode
	m.RecursionDesired = r.RecursionDesired
	m.RecursionAvailable = true
	// Only dnsward's own local data is authoritative; an upstream's AA
	// bit says nothing about this answer.
	m.Authoritative = q.Source == SourceLocal
	m.CheckingDisabled = r.CheckingDisabled
	m.Question = r.Question
	m.Compress = true
	m.Extra = withoutOPT(m.Extra)
	if opt := r.IsEdns0(); opt != nil {
		m.SetEdns0(upstream.EDNSSize, opt.Do())
	}
	m.Truncate(limit)
}

// addrPort is a TCP client's address without its IPv6 zone, as UDP's
// are: no netip.Prefix contains a zoned address, so a link-local client
// (fe80::1%eth0) would be refused though fe80::/10 is allowed.
func addrPort(a net.Addr) netip.AddrPort {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}
	}
	ap := ta.AddrPort()
	return netip.AddrPortFrom(ap.Addr().WithZone(""), ap.Port())
}
