package resolver

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/dnsward/dnsward/internal/mmsg"
	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

const (
	// batchSize is how many datagrams one system call reads or writes.
	batchSize = 64
	// maxQuery is the largest query read whole; longer ones are dropped.
	maxQuery = 4096
)

// udpServer answers one UDP socket. Its reader answers whatever needs no
// upstream (cache hits, local names, blocked names, refusals) itself,
// a batch at a time; a query that must wait on an upstream is handed to a
// worker goroutine (see runInWorker), so it never holds up the others.
type udpServer struct {
	s  *Server
	rc syscall.RawConn
	// replyFrom is set for a socket bound to a wildcard address, which
	// must answer from the address each query was sent to.
	replyFrom func(oob []byte) []byte
	oobSize   int
	waiting   sync.WaitGroup
	// misses hands a query that must wait on an upstream to an idle
	// worker; it is unbuffered, so a send succeeds only when one is idle.
	misses       chan func()
	readFailures sampler
	// spare is the reader's request to parse the next datagram into, nil
	// when the last one was kept; names interns its question names.
	spare *request
	names nameTable
}

func newUDPServer(s *Server, conn *net.UDPConn) (*udpServer, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	u := &udpServer{s: s, rc: rc, misses: make(chan func())}
	local, _ := conn.LocalAddr().(*net.UDPAddr)
	if local == nil || !local.IP.IsUnspecified() {
		return u, nil
	}
	// A wildcard socket may be dual-stack, so it asks for both families'
	// destination addresses, as miekg/dns's server does.
	err6 := ipv6.NewPacketConn(conn).SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true)
	err4 := ipv4.NewPacketConn(conn).SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true)
	if err6 != nil && err4 != nil {
		return nil, err4
	}
	// Room for both: an IPv4 query on a dual-stack socket brings both.
	u.oobSize = len(ipv4.NewControlMessage(ipv4.FlagDst|ipv4.FlagInterface)) + len(ipv6.NewControlMessage(ipv6.FlagDst|ipv6.FlagInterface))
	u.replyFrom = replyFrom
	return u, nil
}

// replyFrom turns the control message of a query into one that sends the
// reply from the address the query was sent to.
func replyFrom(oob []byte) []byte {
	var dst net.IP
	if cm6 := new(ipv6.ControlMessage); cm6.Parse(oob) == nil && cm6.Dst != nil {
		dst = cm6.Dst
	} else if cm4 := new(ipv4.ControlMessage); cm4.Parse(oob) == nil && cm4.Dst != nil {
		dst = cm4.Dst
	}
	switch {
	case dst == nil:
		return nil
	case dst.To4() != nil:
		// Also for an IPv4 query on a dual-stack socket: the IPv6
		// control message cannot carry an IPv4 source.
		return (&ipv4.ControlMessage{Src: dst}).Marshal()
	default:
		return (&ipv6.ControlMessage{Src: dst}).Marshal()
	}
}

// serve reads until the socket's deadline passes or it is closed, then
// waits for the queries still waiting on upstreams. One goroutine reads:
// a second one on the same socket was woken for every batch the first
// took, found nothing and slept again, which cost a fifth of the CPU at
// 45,000 qps and 15-25% of the cache-hit throughput on two cores. One
// reader answers well over 100,000 cache hits a second, and queries
// waiting on upstreams run on every core.
func (u *udpServer) serve() error {
	err := u.read()
	close(u.misses)
	u.waiting.Wait()
	return err
}

// workerIdle is how long a worker waits for another query before it ends.
const workerIdle = 10 * time.Second

// runInWorker runs job in an idle worker, or in a new one. Workers outlive
// their query because a new goroutine's stack grows, by copying, on the way
// down the pipeline to the upstream exchange: a tenth of a miss's CPU.
func (u *udpServer) runInWorker(job func()) {
	select {
	case u.misses <- job:
		return
	default:
	}
	u.waiting.Go(func() {
		job()
		idle := time.NewTimer(workerIdle)
		defer idle.Stop()
		for {
			select {
			case job, ok := <-u.misses:
				if !ok {
					return
				}
				job()
				idle.Reset(workerIdle)
			case <-idle.C:
				return
			}
		}
	})
}

// read is the reader's loop.
func (u *udpServer) read() error {
	in, out := mmsg.New(u.rc, batchSize), mmsg.New(u.rc, batchSize)
	bufs := make([][]byte, batchSize)
	oobs := make([][]byte, batchSize)
	replies := make([][]byte, batchSize)
	for i := range bufs {
		bufs[i] = make([]byte, maxQuery)
		oobs[i] = make([]byte, u.oobSize)
		replies[i] = make([]byte, 0, dns.MinMsgSize)
	}
	sends := make([]mmsg.Datagram, 0, batchSize)
	for {
		n, err := in.Recv(bufs, oobs)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var errno syscall.Errno
			if !errors.As(err, &errno) {
				return err
			}
			u.readFailed(errno)
			continue
		}
		sends = sends[:0]
		for i := range n {
			size, truncated := in.Size(i)
			client := in.Peer(i)
			if truncated || !client.IsValid() {
				continue
			}
			var oob []byte
			if u.replyFrom != nil {
				oob = u.replyFrom(oobs[i][:in.OOBLen(i)])
			}
			wire, ok := u.answer(replies[i][:0], bufs[i][:size], client, in.From(i), oob)
			if !ok {
				continue
			}
			replies[i] = wire[:0]
			sends = append(sends, mmsg.Datagram{Wire: wire, OOB: oob, To: in.From(i)})
		}
		u.write(out, sends)
	}
}

// readFailedPause is how long the reader waits after a failed read that is
// not merely interrupted, so that a lasting error is not retried in a
// busy loop.
const readFailedPause = 10 * time.Millisecond

// readFailed notes a failed read. A kernel error on a UDP read, such as
// ENOMEM or ENOBUFS under memory pressure, passes; ending the server for
// it would take the LAN's DNS down with it.
func (u *udpServer) readFailed(errno syscall.Errno) {
	if errno.Temporary() {
		return
	}
	if skipped, ok := u.readFailures.allow(time.Now(), failLogEvery); ok {
		u.s.Logger.Warn("udp read failed, retrying", "err", errno, "failures_not_logged_before", skipped)
	}
	time.Sleep(readFailedPause)
}

// answer replies to one datagram now if it can, appending the reply to
// dst; otherwise it hands the query to a worker, or drops it.
func (u *udpServer) answer(dst, pkt []byte, client netip.AddrPort, from *mmsg.Sockaddr, oob []byte) ([]byte, bool) {
	r := u.spare
	if r == nil {
		r = new(request)
	}
	req := &r.msg
	if !r.parse(pkt, &u.names) {
		var rejected *dns.Msg
		req, rejected = decodeQuery(pkt)
		if rejected != nil {
			wire, err := rejected.PackBuffer(dst[:cap(dst)])
			return wire, err == nil
		}
		if req == nil {
			return nil, false
		}
	}
	u.spare = nil
	q := &r.q
	*q = Query{Req: req, Start: time.Now(), Client: client, Proto: "udp"}
	resp, wait := u.s.answer(q)
	if wait == nil {
		wire := u.s.reply(dst, q, resp)
		if q.wireReply && !q.kept {
			u.spare = r
		}
		return wire, true
	}
	// from is the reader's, and reused by its next batch.
	to := *from
	u.runInWorker(func() {
		wire := u.s.reply(nil, q, u.s.await(q, wait))
		u.write(mmsg.New(u.rc, 1), []mmsg.Datagram{{Wire: wire, OOB: oob, To: &to}})
	})
	return nil, false
}

// write sends every reply, skipping one the kernel refuses.
func (u *udpServer) write(b *mmsg.Batch, out []mmsg.Datagram) {
	for len(out) > 0 {
		n, err := b.Send(out)
		if err != nil {
			u.s.Logger.Debug("write failed", "client", mmsg.AddrPort(out[0].To), "err", err)
			n = max(n, 1)
		}
		out = out[n:]
	}
}

// decodeQuery unpacks a datagram the way miekg/dns's server does: it
// returns the query to answer, or the FORMERR or NOTIMP reply to send, or
// neither for a datagram that gets no answer (too short, or a response,
// which could be used to make two servers talk to each other forever).
func decodeQuery(pkt []byte) (req, rejected *dns.Msg) {
	if len(pkt) < 12 {
		return nil, nil
	}
	dh := dns.Header{
		Id:      binary.BigEndian.Uint16(pkt),
		Bits:    binary.BigEndian.Uint16(pkt[2:]),
		Qdcount: binary.BigEndian.Uint16(pkt[4:]),
		Ancount: binary.BigEndian.Uint16(pkt[6:]),
		Nscount: binary.BigEndian.Uint16(pkt[8:]),
		Arcount: binary.BigEndian.Uint16(pkt[10:]),
	}
	action := dns.DefaultMsgAcceptFunc(dh)
	if action == dns.MsgAccept {
		req = new(dns.Msg)
		if req.Unpack(pkt) == nil {
			return req, nil
		}
	}
	if action == dns.MsgIgnore {
		return nil, nil
	}
	head := &dns.Msg{MsgHdr: dns.MsgHdr{
		Id:               dh.Id,
		Opcode:           int(dh.Bits>>11) & 0xF,
		RecursionDesired: dh.Bits&(1<<8) != 0,
		CheckingDisabled: dh.Bits&(1<<4) != 0,
	}}
	rejected = new(dns.Msg).SetRcodeFormatError(head)
	if action == dns.MsgRejectNotImplemented {
		rejected.Opcode, rejected.Rcode = head.Opcode, dns.RcodeNotImplemented
	}
	return nil, rejected
}

// stopReading makes every blocked read of conn return at once.
func stopReading(ctx context.Context, conn *net.UDPConn) {
	<-ctx.Done()
	_ = conn.SetReadDeadline(time.Unix(1, 0))
}
