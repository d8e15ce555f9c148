package flows

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"
)

func TestAttribute(t *testing.T) {
	l := mapLookuper{}
	l.add(ip("192.0.2.10"), "mine.example", ip("198.51.100.1"), t0.Add(-time.Minute), t0.Add(time.Hour))
	l.add(ip("192.0.2.11"), "theirs.example", ip("198.51.100.1"), t0.Add(-time.Minute), t0.Add(time.Hour))
	l.add(ip("192.0.2.11"), "theirs.example", ip("198.51.100.2"), t0.Add(-time.Minute), t0.Add(time.Hour))
	l.add(ip("192.0.2.10"), "expired.example", ip("198.51.100.3"), t0.Add(-time.Hour), t0.Add(-time.Minute))
	l.add(ip("2001:db8::10"), "six.example", ip("2001:db8:1::1"), t0.Add(-time.Minute), t0.Add(time.Hour))
	for _, tc := range []struct {
		name, client, dest string
		want               Attribution
		names              []string
	}{
		{"same client first", "192.0.2.10:40000", "198.51.100.1:443", SameClient, []string{"mine.example"}},
		{"other client flagged", "192.0.2.10:40000", "198.51.100.2:443", OtherClient, []string{"theirs.example"}},
		{"expired is no lookup", "192.0.2.10:40000", "198.51.100.3:443", NoLookup, nil},
		{"unknown is no lookup", "192.0.2.10:40000", "203.0.113.9:25", NoLookup, nil},
		{"ipv4-mapped client", "[::ffff:192.0.2.10]:40000", "[::ffff:198.51.100.1]:443", SameClient, []string{"mine.example"}},
		{"ipv6", "[2001:db8::10]:40000", "[2001:db8:1::1]:443", SameClient, []string{"six.example"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Attribute(Flow{Time: t0, Client: ap(tc.client), Dest: ap(tc.dest), Proto: ProtoTCP, Verdict: VerdictNew}, l)
			if f.Attribution != tc.want {
				t.Fatalf("attribution %v, want %v", f.Attribution, tc.want)
			}
			var got []string
			for _, n := range f.Names {
				got = append(got, n.Name)
			}
			if len(got) != len(tc.names) || (len(got) > 0 && got[0] != tc.names[0]) {
				t.Fatalf("names %v, want %v", got, tc.names)
			}
			if tc.want == OtherClient && f.Names[0].Client != ip("192.0.2.11") {
				t.Fatalf("other client %v, want 192.0.2.11", f.Names[0].Client)
			}
		})
	}
}

func TestEnumsText(t *testing.T) {
	b, err := json.Marshal(struct {
		P Proto
		V Verdict
		A Attribution
	}{ProtoICMP, VerdictDropped, OtherClient})
	if err != nil || string(b) != `{"P":"icmp","V":"dropped","A":"other_client"}` {
		t.Fatalf("marshal: %s %v", b, err)
	}
	var back struct {
		P Proto
		V Verdict
		A Attribution
	}
	if err := json.Unmarshal(b, &back); err != nil || back.P != ProtoICMP || back.V != VerdictDropped || back.A != OtherClient {
		t.Fatalf("unmarshal: %+v %v", back, err)
	}
	var v Verdict
	if err := v.UnmarshalText([]byte("bogus")); err == nil {
		t.Fatal("bogus verdict accepted")
	}
	if ProtoFromIP(58) != ProtoICMP || ProtoFromIP(47) != ProtoOther {
		t.Fatal("ProtoFromIP")
	}
}

func TestFilterKeep(t *testing.T) {
	fl := Filter{Clients: pfx("192.0.2.0/24", "2001:db8::/64"), DNSAddrs: []netip.Addr{ip("192.0.2.1"), ip("2001:db8::1")}}
	for _, tc := range []struct {
		client, dest string
		proto        Proto
		keep         bool
	}{
		{"192.0.2.10:1000", "198.51.100.1:443", ProtoTCP, true},
		{"198.51.100.7:1000", "192.0.2.10:443", ProtoTCP, false}, // not a LAN client
		{"192.0.2.10:1000", "192.0.2.1:53", ProtoUDP, false},     // DNS to dnsward
		{"192.0.2.10:1000", "192.0.2.1:53", ProtoTCP, false},
		{"[2001:db8::10]:1000", "[2001:db8::1]:53", ProtoUDP, false},
		{"192.0.2.10:1000", "8.8.8.8:53", ProtoUDP, true}, // DNS around dnsward is a flow
		{"192.0.2.10:1000", "192.0.2.1:22", ProtoTCP, true},
		{"[::ffff:192.0.2.10]:1000", "[::ffff:192.0.2.1]:53", ProtoUDP, false},
	} {
		f := Flow{Client: ap(tc.client), Dest: ap(tc.dest), Proto: tc.proto}
		if got := fl.Keep(&f); got != tc.keep {
			t.Errorf("%s -> %s %v: keep %v, want %v", tc.client, tc.dest, tc.proto, got, tc.keep)
		}
	}
}

func pfx(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}
