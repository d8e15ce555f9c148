package lan

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func FuzzParseHosts(f *testing.F) {
	f.Add([]byte("127.0.0.1 localhost\n::1 localhost ip6-localhost\n192.168.1.10 nas nas.lan # c\n"))
	f.Add([]byte("fe80::1%eth0 router\n\xff\xfe 1.2.3.4\n::ffff:10.0.0.1 Mapped.\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, _ := parseHosts("hosts", data)
		checkAccepted(t, "parseHosts", entries)
	})
}

func FuzzParseLeases(f *testing.F) {
	f.Add([]byte("1700000000 aa:bb:cc:dd:ee:ff 192.168.1.5 laptop 01:aa\n0 11:22 10.0.0.1 * *\nduid 00:01\n0 11:22 fe80::1%eth0 zoned *\n"))
	f.Add([]byte("lease 192.168.1.60 {\n  ends 4 2030/01/01 00:00:00;\n  binding state active;\n  client-hostname \"phone\";\n}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, _ := parseLeases("leases", data)
		checkAccepted(t, "parseLeases", entries)
		entries, _ = parseDnsmasq("leases", data, time.Unix(0, 0))
		checkAccepted(t, "parseDnsmasq", entries)
		entries, _ = parseISC("leases", data, time.Unix(0, 0))
		checkAccepted(t, "parseISC", entries)
	})
}

// checkAccepted asserts what a parser promises about the entries it
// accepts: each address valid, without a zone (it names an interface of the
// machine that wrote the file) and not IPv4-mapped (so it is answered as A,
// not as AAAA), each entry named on a line of the file; and that every
// record built from them has a name that passes validHostname and an
// address of its type's family.
func checkAccepted(t *testing.T, parser string, entries []entry) {
	t.Helper()
	b := &builder{names: &Names{byName: map[string][]dns.RR{}}, cfg: Config{Domain: "lan"}}
	for _, e := range entries {
		if !e.addr.IsValid() || e.addr.Zone() != "" || e.addr.Is4In6() {
			t.Fatalf("%s accepted address %q on line %d", parser, e.addr, e.line)
		}
		if len(e.names) == 0 || e.line < 1 {
			t.Fatalf("%s accepted %s with names %q on line %d", parser, e.addr, e.names, e.line)
		}
		for i, name := range e.names {
			_ = b.host(e.addr, name, i == 0)
		}
	}
	for owner, rrs := range b.names.byName {
		for _, rr := range rrs {
			var addr netip.Addr
			switch rr := rr.(type) {
			case *dns.A:
				addr, _ = netip.AddrFromSlice(rr.A)
				if !addr.Is4() {
					t.Fatalf("%s: %s has A record %s", parser, owner, rr.A)
				}
			case *dns.AAAA:
				addr, _ = netip.AddrFromSlice(rr.AAAA)
				if !addr.Is6() || addr.Is4In6() {
					t.Fatalf("%s: %s has AAAA record %s", parser, owner, rr.AAAA)
				}
			case *dns.PTR:
				if !strings.HasSuffix(owner, ".in-addr.arpa.") && !strings.HasSuffix(owner, ".ip6.arpa.") {
					t.Fatalf("%s: PTR record at %s", parser, owner)
				}
				owner = rr.Ptr
			default:
				t.Fatalf("%s: unexpected record %s", parser, rr)
			}
			if name := strings.TrimSuffix(owner, "."); !validHostname(name) {
				t.Fatalf("%s accepted name %q, which fails the name check", parser, name)
			}
		}
	}
}
