package resolver

import (
	"encoding/binary"
	"errors"
	"strings"

	"github.com/dnsward/dnsward/querylog"
	"github.com/dnsward/dnsward/upstream"
	"github.com/miekg/dns"
)

// packedAnswer is a cached message in wire form, packed once when stored,
// with what must change per client located: the question name and every
// TTL. Answering a hit then costs a copy and a few byte patches instead of
// copying and packing a dns.Msg.
type packedAnswer struct {
	wire []byte // header, question (lowercased), records; no OPT
	// qnameEnd is where the question's name ends in wire. The TTLs are
	// found by walking the records on each hit (forEachTTL): a few
	// nanoseconds, where a slice of their offsets cost every cached name
	// 32 bytes.
	qnameEnd uint16
}

// optLen is the size of the OPT record the server adds: root name, type,
// class (UDP size), TTL (extended rcode, version, flags) and empty rdata.
const optLen = 11

var errPacked = errors.New("malformed packed message")

// packAnswer packs m with qname as its question, lowercased, so that any
// client's spelling of it has the same length. It is returned by value to
// be kept inside a cache entry: one allocation fewer per cached name.
func packAnswer(m *dns.Msg, qname string) (packedAnswer, error) {
	if len(m.Question) != 1 {
		return packedAnswer{}, errPacked
	}
	c := *m
	c.Question = []dns.Question{{Name: qname, Qtype: m.Question[0].Qtype, Qclass: m.Question[0].Qclass}}
	c.Compress = true
	wire, err := c.Pack()
	if err != nil {
		return packedAnswer{}, err
	}
	return indexPacked(wire)
}

// indexPacked locates the question's end in wire, a message as packAnswer
// packs it, and checks that its records parse to its end.
func indexPacked(wire []byte) (packedAnswer, error) {
	// Offsets are kept in 16 bits, as DNS's own compression pointers are.
	if len(wire) > dns.MaxMsgSize || len(wire) < 12 || binary.BigEndian.Uint16(wire[4:]) != 1 {
		return packedAnswer{}, errPacked
	}
	off, err := skipName(wire, 12)
	if err != nil {
		return packedAnswer{}, err
	}
	p := packedAnswer{wire: wire, qnameEnd: uint16(off)}
	if err := p.forEachTTL(wire, func(int) {}); err != nil {
		return packedAnswer{}, err
	}
	return p, nil
}

// forEachTTL calls f with the offset of every record's TTL in out, a copy
// of p's wire, and fails unless the records end where the message does.
func (p *packedAnswer) forEachTTL(out []byte, f func(at int)) error {
	count := int(binary.BigEndian.Uint16(out[6:])) + int(binary.BigEndian.Uint16(out[8:])) + int(binary.BigEndian.Uint16(out[10:]))
	off := int(p.qnameEnd) + 4
	var err error
	for range count {
		if off, err = skipName(out, off); err != nil {
			return err
		}
		if off+10 > len(out) {
			return errPacked
		}
		f(off + 4)
		off += 10 + int(binary.BigEndian.Uint16(out[off+8:]))
	}
	if off != len(out) {
		return errPacked
	}
	return nil
}

// skipName returns the offset just past the name at off.
func skipName(wire []byte, off int) (int, error) {
	for off < len(wire) {
		n := int(wire[off])
		switch {
		case n == 0:
			return off + 1, nil
		case n&0xC0 == 0xC0:
			return off + 2, nil
		case n&0xC0 != 0:
			return 0, errPacked
		}
		off += 1 + n
	}
	return 0, errPacked
}

// appendReply appends the reply to req: req's id, flags and question
// spelling, TTLs counted down by age, and an OPT record when req had one.
// It reports false when the reply does not fit in limit bytes, or when the
// question cannot be respelled in place (escaped characters): the caller
// then answers from the message instead.
func (p *packedAnswer) appendReply(dst []byte, req *dns.Msg, age uint32, limit int) ([]byte, bool) {
	opt := req.IsEdns0()
	size := len(p.wire)
	if opt != nil {
		size += optLen
	}
	name := req.Question[0].Name
	if size > limit || strings.IndexByte(name, '\\') >= 0 {
		return dst, false
	}
	start := len(dst)
	dst = append(dst, p.wire...)
	out := dst[start:]
	binary.BigEndian.PutUint16(out, req.Id)
	// QR, opcode QUERY, RA, the stored rcode; RD and CD as the client set
	// them; AA never, since only local data is authoritative.
	flags := binary.BigEndian.Uint16(out[2:])&0x000F | 1<<15 | 1<<7
	if req.RecursionDesired {
		flags |= 1 << 8
	}
	if req.CheckingDisabled {
		flags |= 1 << 4
	}
	binary.BigEndian.PutUint16(out[2:], flags)
	if !respell(out[12:p.qnameEnd], name) {
		return dst[:start], false
	}
	// The wire was checked when stored: this walk cannot fail.
	_ = p.forEachTTL(out[:len(p.wire)], func(at int) {
		binary.BigEndian.PutUint32(out[at:], querylog.AgedTTL(binary.BigEndian.Uint32(out[at:]), age))
	})
	if opt == nil {
		return dst, true
	}
	binary.BigEndian.PutUint16(out[10:], binary.BigEndian.Uint16(out[10:])+1)
	var ttl uint32
	if opt.Do() {
		ttl = 1 << 15
	}
	dst = append(dst, 0, byte(dns.TypeOPT>>8), byte(dns.TypeOPT))
	dst = binary.BigEndian.AppendUint16(dst, upstream.EDNSSize)
	dst = binary.BigEndian.AppendUint32(dst, ttl)
	return append(dst, 0, 0), true
}

// respell copies the letters of name, as the client spelled it, over the
// lowercased wire name, so that clients checking the case of their
// question (0x20 randomisation) accept the answer. Answer names compressed
// against the question take the same spelling, which DNS, comparing names
// without case, allows.
func respell(wire []byte, name string) bool {
	off, i := 0, 0
	for off < len(wire) && wire[off] != 0 {
		n := int(wire[off])
		if off+1+n > len(wire) || i+n > len(name) {
			return false
		}
		copy(wire[off+1:off+1+n], name[i:i+n])
		off += 1 + n
		i += n + 1 // the label and its dot
	}
	return off == len(wire)-1 && i >= len(name)-1
}
