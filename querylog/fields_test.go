package querylog

import (
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// An extended rcode from a response's OPT is named for what it means
// there: 16 is BADVERS, not TSIG's BADSIG.
func TestRcodeNames(t *testing.T) {
	req := new(dns.Msg).SetQuestion("example.test.", dns.TypeA)
	for _, tt := range []struct {
		rcode int
		want  string
	}{
		{dns.RcodeSuccess, "NOERROR"},
		{dns.RcodeRefused, "REFUSED"},
		{dns.RcodeBadVers, "BADVERS"},
		{dns.RcodeBadCookie, "BADCOOKIE"},
		{3841, "RCODE3841"},
	} {
		resp := new(dns.Msg).SetRcode(req, tt.rcode)
		recs := Records("q1", Entry{Time: time.Unix(0, 0), Client: netip.MustParseAddrPort("127.0.0.1:5353"),
			Question: req.Question[0], Response: resp, Source: "local"})
		if len(recs) != 1 || recs[0].Rcode != tt.want {
			t.Errorf("rcode %d logged as %+v, want %s", tt.rcode, recs, tt.want)
		}
	}
}

// A rebinding refusal carries the refused address through both formats.
func TestRebindAddressRoundTrips(t *testing.T) {
	req := new(dns.Msg).SetQuestion("rebind.example.test.", dns.TypeA)
	recs := Records("q1", Entry{Time: time.Unix(0, 0), Client: netip.MustParseAddrPort("127.0.0.1:5353"),
		Question: req.Question[0], Response: new(dns.Msg).SetRcode(req, dns.RcodeRefused), Source: "rebind",
		RebindAddr: netip.MustParseAddr("::ffff:192.168.1.1")})
	for _, format := range []string{FormatJSON, FormatKV} {
		line := appendFormat(nil, format, &recs[0])
		r, err := ParseLine(line)
		if err != nil || r.RebindAddr != "192.168.1.1" {
			t.Errorf("%s: %s read back as %q, %v; want rebind_address 192.168.1.1", format, line, r.RebindAddr, err)
		}
	}
}
