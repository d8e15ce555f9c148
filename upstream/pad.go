package upstream

import (
	"slices"

	"github.com/miekg/dns"
)

// padBlock is the length, in bytes, that queries over TLS and HTTPS are
// padded to a multiple of: RFC 8467's recommendation for clients.
const padBlock = 128

// packPadded is m's wire form with an EDNS(0) padding option (RFC 7830)
// that makes it a multiple of padBlock long, so that whoever watches the
// encrypted stream cannot tell the names asked by their length. m itself
// is left as it is: a group may ask another upstream with it.
func packPadded(m *dns.Msg) ([]byte, error) {
	q := m.Copy()
	opt := q.IsEdns0()
	if opt == nil {
		q.SetEdns0(EDNSSize, false)
		opt = q.IsEdns0()
	}
	opt.Option = slices.DeleteFunc(opt.Option, func(o dns.EDNS0) bool { return o.Option() == dns.EDNS0PADDING })
	// The option's own 4 bytes (code, length) count too.
	pad := (padBlock - (q.Len()+4)%padBlock) % padBlock
	opt.Option = append(opt.Option, &dns.EDNS0_PADDING{Padding: make([]byte, pad)})
	return q.Pack()
}
