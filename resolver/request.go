package resolver

import (
	"encoding/binary"

	"github.com/miekg/dns"
)

// request is a UDP query with its message, question and OPT record in one
// allocation. The reader parses the common query into one in place, and
// reuses it for its next datagram when the answer came from a cache entry's
// wire form and nothing kept the query: a cache hit then allocates nothing.
type request struct {
	q        Query
	msg      dns.Msg
	question [1]dns.Question
	extra    [1]dns.RR
	opt      dns.OPT
}

// maxInterned bounds a reader's table of question names.
const maxInterned = 4096

// nameTable interns the question names a reader parses, so that a name
// asked again costs no allocation; it is emptied when full.
type nameTable struct{ m map[string]string }

func (t *nameTable) intern(b []byte) string {
	if s, ok := t.m[string(b)]; ok {
		return s
	}
	if t.m == nil || len(t.m) >= maxInterned {
		t.m = make(map[string]string)
	}
	s := string(b)
	t.m[s] = s
	return s
}

// parse reads pkt into r.msg, as dns.Msg.Unpack would, when it is the
// common query: opcode QUERY, one question whose name is letters, digits,
// '-', '_', '*' or '/' without compression, nothing else but at most an OPT
// record without options, and no bytes after. It reports false for any
// other datagram, which decodeQuery then unpacks in full.
func (r *request) parse(pkt []byte, names *nameTable) bool {
	if len(pkt) < 12+5 {
		return false
	}
	bits := binary.BigEndian.Uint16(pkt[2:])
	if bits&(1<<15) != 0 || (bits>>11)&0xF != dns.OpcodeQuery || binary.BigEndian.Uint16(pkt[4:]) != 1 ||
		binary.BigEndian.Uint16(pkt[6:]) != 0 || binary.BigEndian.Uint16(pkt[8:]) != 0 {
		return false
	}
	arcount := binary.BigEndian.Uint16(pkt[10:])
	if arcount > 1 {
		return false
	}
	var name [256]byte
	n, off := 0, 12
	for {
		if off >= len(pkt) {
			return false
		}
		l := int(pkt[off])
		off++
		if l == 0 {
			break
		}
		// A name's wire form is at most 255 bytes: its labels, each with
		// its length (n so far), and the root's.
		if l > 63 || off+l > len(pkt) || n+l+1 > 254 {
			return false
		}
		for _, c := range pkt[off : off+l] {
			if !plainNameByte(c) {
				return false
			}
		}
		n += copy(name[n:], pkt[off:off+l])
		name[n] = '.'
		n++
		off += l
	}
	if n == 0 {
		name[0], n = '.', 1
	}
	if off+4 > len(pkt) {
		return false
	}
	qtype, qclass := binary.BigEndian.Uint16(pkt[off:]), binary.BigEndian.Uint16(pkt[off+2:])
	off += 4
	var opt dns.OPT
	if arcount == 1 {
		// Root name, type OPT, size, extended rcode and flags, no rdata.
		if off+11 != len(pkt) || pkt[off] != 0 || binary.BigEndian.Uint16(pkt[off+1:]) != dns.TypeOPT || binary.BigEndian.Uint16(pkt[off+9:]) != 0 {
			return false
		}
		opt.Hdr = dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: binary.BigEndian.Uint16(pkt[off+3:]), Ttl: binary.BigEndian.Uint32(pkt[off+5:])}
	} else if off != len(pkt) {
		return false
	}
	r.question[0] = dns.Question{Name: names.intern(name[:n]), Qtype: qtype, Qclass: qclass}
	r.msg = dns.Msg{
		MsgHdr: dns.MsgHdr{
			Id:                 binary.BigEndian.Uint16(pkt),
			Opcode:             dns.OpcodeQuery,
			Authoritative:      bits&(1<<10) != 0,
			Truncated:          bits&(1<<9) != 0,
			RecursionDesired:   bits&(1<<8) != 0,
			RecursionAvailable: bits&(1<<7) != 0,
			Zero:               bits&(1<<6) != 0,
			AuthenticatedData:  bits&(1<<5) != 0,
			CheckingDisabled:   bits&(1<<4) != 0,
			Rcode:              int(bits & 0xF),
		},
		Question: r.question[:],
	}
	if arcount == 1 {
		r.opt = opt
		r.extra[0] = &r.opt
		r.msg.Extra = r.extra[:]
		r.msg.Rcode |= r.opt.ExtendedRcode()
	}
	return true
}

// plainNameByte says whether c stands for itself in a name's text form,
// which Unpack then writes unescaped.
func plainNameByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c == '-' || c == '_' || c == '*' || c == '/'
}
