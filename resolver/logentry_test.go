package resolver

import (
	"testing"

	"github.com/miekg/dns"
)

// TestLogEntryCarriesRequest checks that the query log gets the client's
// query itself, which dnstap sends in wire form.
func TestLogEntryCarriesRequest(t *testing.T) {
	req := new(dns.Msg)
	req.SetQuestion("host.lan.", dns.TypeA)
	req.SetEdns0(1232, true)
	q := &Query{Req: req, Proto: "udp"}
	if e := q.LogEntry(reply(q, dns.RcodeSuccess)); e.Request != req {
		t.Errorf("Entry.Request = %v, want the request", e.Request)
	}
}
