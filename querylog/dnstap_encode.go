package querylog

import (
	"encoding/base64"
	"net/netip"
	"strconv"
	"time"

	dnstap "github.com/dnstap/golang-dnstap"
	"github.com/miekg/dns"
	"google.golang.org/protobuf/proto"
)

// Exchange is one query dnsward sent to an upstream and what came back,
// for dnstap's FORWARDER_QUERY and FORWARDER_RESPONSE messages.
type Exchange struct {
	Upstream     netip.AddrPort // the upstream's address; invalid when it has none (left out)
	Proto        string         // "udp" or "tcp"; other transports are left out
	Query        *dns.Msg       // as sent (not mutated after LogExchange)
	Response     *dns.Msg       // as received; nil when none came
	QueryTime    time.Time      // when the query was sent
	ResponseTime time.Time      // when the response came
}

// appendTapEntry appends the spool lines of a client exchange:
// CLIENT_QUERY, then CLIENT_RESPONSE when a response was sent. It returns
// how many lines it wrote.
func appendTapEntry(b []byte, e *Entry) ([]byte, int) {
	respAt := e.Time.Add(e.Latency)
	query := tapQuery(e)
	m := &dnstap.Message{Type: dnstap.Message_CLIENT_QUERY.Enum()}
	setSocket(m, e.Proto, e.Client.Addr())
	m.QueryAddress = e.Client.Addr().Unmap().AsSlice()
	m.QueryPort = proto.Uint32(uint32(e.Client.Port()))
	setTime(&m.QueryTimeSec, &m.QueryTimeNsec, e.Time)
	m.QueryMessage = pack(query)
	b = appendTapLine(b, e.Time, m)
	if e.Response == nil {
		return b, 1
	}
	m.Type = dnstap.Message_CLIENT_RESPONSE.Enum()
	m.QueryMessage = nil
	setTime(&m.ResponseTimeSec, &m.ResponseTimeNsec, respAt)
	m.ResponseMessage = pack(tapResponse(e, query.Id))
	return appendTapLine(b, respAt, m), 2
}

// appendTapExchange appends the spool lines of an upstream exchange:
// FORWARDER_QUERY, then FORWARDER_RESPONSE when a response came.
func appendTapExchange(b []byte, x *Exchange) ([]byte, int) {
	m := &dnstap.Message{Type: dnstap.Message_FORWARDER_QUERY.Enum()}
	setSocket(m, x.Proto, x.Upstream.Addr())
	if x.Upstream.IsValid() {
		m.ResponseAddress = x.Upstream.Addr().Unmap().AsSlice()
		m.ResponsePort = proto.Uint32(uint32(x.Upstream.Port()))
	}
	setTime(&m.QueryTimeSec, &m.QueryTimeNsec, x.QueryTime)
	m.QueryMessage = pack(x.Query)
	b = appendTapLine(b, x.QueryTime, m)
	if x.Response == nil {
		return b, 1
	}
	m.Type = dnstap.Message_FORWARDER_RESPONSE.Enum()
	m.QueryMessage = nil
	setTime(&m.ResponseTimeSec, &m.ResponseTimeNsec, x.ResponseTime)
	m.ResponseMessage = pack(x.Response)
	return appendTapLine(b, x.ResponseTime, m), 2
}

// tapQuery is the client's query: the request itself, or, when the entry
// lacks it, one rebuilt from the question and the response's id.
func tapQuery(e *Entry) *dns.Msg {
	if e.Request != nil {
		return e.Request
	}
	q := &dns.Msg{Question: []dns.Question{e.Question}}
	q.RecursionDesired = true
	if e.Response != nil {
		q.Id = e.Response.Id
		q.RecursionDesired = e.Response.RecursionDesired
	}
	return q
}

// tapResponse is the response as the client got it: a cached message is
// shared, so its copy takes the query's id and TTLs counted down by Age.
func tapResponse(e *Entry, id uint16) *dns.Msg {
	if e.Age == 0 && e.Response.Id == id {
		return e.Response
	}
	r := e.Response.Copy()
	r.Id = id
	for _, s := range [][]dns.RR{r.Answer, r.Ns, r.Extra} {
		for _, rr := range s {
			if h := rr.Header(); h.Rrtype != dns.TypeOPT {
				// The resolver's rule (resolver.AgedTTL): never below 1.
				h.Ttl = max(h.Ttl-min(h.Ttl, e.Age), 1)
			}
		}
	}
	return r
}

// pack returns m's wire form. It packs a copy because packing writes the
// rcode into the OPT record, and m may be shared with the query path; a
// message that does not pack is left out of the dnstap message.
func pack(m *dns.Msg) []byte {
	wire, err := m.Copy().Pack()
	if err != nil {
		return nil
	}
	return wire
}

func setSocket(m *dnstap.Message, protocol string, addr netip.Addr) {
	switch {
	case !addr.IsValid():
	case addr.Unmap().Is4():
		m.SocketFamily = dnstap.SocketFamily_INET.Enum()
	default:
		m.SocketFamily = dnstap.SocketFamily_INET6.Enum()
	}
	switch protocol {
	case "udp":
		m.SocketProtocol = dnstap.SocketProtocol_UDP.Enum()
	case "tcp":
		m.SocketProtocol = dnstap.SocketProtocol_TCP.Enum()
	}
}

func setTime(sec **uint64, nsec **uint32, t time.Time) {
	*sec = proto.Uint64(uint64(t.Unix()))
	*nsec = proto.Uint32(uint32(t.Nanosecond()))
}

// appendTapLine appends one spool line holding m as a dnstap message,
// base64-encoded because spool lines end at a newline.
func appendTapLine(b []byte, ts time.Time, m *dnstap.Message) []byte {
	pb, err := proto.Marshal(&dnstap.Dnstap{Type: dnstap.Dnstap_MESSAGE.Enum(), Message: m})
	if err != nil {
		return b // every required field is set above; not reached
	}
	b = strconv.AppendInt(b, ts.UnixNano(), 10)
	b = append(b, ' ')
	b = base64.StdEncoding.AppendEncode(b, pb)
	return append(b, '\n')
}

// marshalPartial encodes fields of a Dnstap without its required type, to
// be merged into complete messages.
func marshalPartial(d *dnstap.Dnstap) ([]byte, error) {
	return proto.MarshalOptions{AllowPartial: true}.Marshal(d)
}
