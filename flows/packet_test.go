package flows

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// ipPacket builds an IPv4 or IPv6 header and 4 bytes of ports; ext
// inserts an IPv6 destination-options header before the transport one.
func ipPacket(src, dst netip.Addr, proto uint8, sp, dp uint16, ext bool) []byte {
	ports := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, sp), dp)
	if src.Is4() {
		h := make([]byte, 20)
		h[0], h[9] = 0x45, proto
		s, d := src.As4(), dst.As4()
		copy(h[12:], s[:])
		copy(h[16:], d[:])
		return append(h, ports...)
	}
	h := make([]byte, 40)
	h[0], h[6] = 0x60, proto
	s, d := src.As16(), dst.As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	if ext {
		h[6] = 60
		h = append(h, proto, 0, 1, 4, 0, 0, 0, 0) // PadN
	}
	return append(h, ports...)
}

func TestParsePacket(t *testing.T) {
	v4s, v4d := ip("10.0.0.2"), ip("198.51.100.1")
	v6s, v6d := ip("2001:db8::2"), ip("2001:db8:1::1")
	frag := ipPacket(v4s, v4d, 6, 1, 2, false)
	binary.BigEndian.PutUint16(frag[6:], 100) // fragment offset: no ports
	for _, tc := range []struct {
		name  string
		b     []byte
		ok    bool
		src   string
		dst   string
		proto uint8
	}{
		{"ipv4 tcp", ipPacket(v4s, v4d, 6, 40000, 443, false), true, "10.0.0.2:40000", "198.51.100.1:443", 6},
		{"ipv4 udp", ipPacket(v4s, v4d, 17, 5000, 123, false), true, "10.0.0.2:5000", "198.51.100.1:123", 17},
		{"ipv4 icmp no ports", ipPacket(v4s, v4d, 1, 8, 0, false), true, "10.0.0.2:0", "198.51.100.1:0", 1},
		{"ipv4 later fragment", frag, true, "10.0.0.2:0", "198.51.100.1:0", 6},
		{"ipv6 tcp", ipPacket(v6s, v6d, 6, 40000, 443, false), true, "[2001:db8::2]:40000", "[2001:db8:1::1]:443", 6},
		{"ipv6 ext header", ipPacket(v6s, v6d, 17, 40000, 53, true), true, "[2001:db8::2]:40000", "[2001:db8:1::1]:53", 17},
		{"ipv4 cut", ipPacket(v4s, v4d, 6, 1, 2, false)[:19], false, "", "", 0},
		{"ipv6 cut", ipPacket(v6s, v6d, 6, 1, 2, false)[:39], false, "", "", 0},
		{"not ip", []byte{0x20, 1, 2}, false, "", "", 0},
		{"empty", nil, false, "", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst, proto, ok := parsePacket(tc.b)
			if ok != tc.ok {
				t.Fatalf("ok %v, want %v", ok, tc.ok)
			}
			if ok && (src.String() != tc.src || dst.String() != tc.dst || proto != tc.proto) {
				t.Fatalf("got %v %v %d, want %s %s %d", src, dst, proto, tc.src, tc.dst, tc.proto)
			}
		})
	}
}

// FuzzParsePacket: a packet built from the inputs reads back as built,
// and any bytes at all parse without panicking into same-family addresses.
func FuzzParsePacket(f *testing.F) {
	f.Add([]byte("10.0.0.2........"), uint8(6), uint16(40000), uint16(443), false, false, []byte{0x45})
	f.Add([]byte("2001:db8::2-----"), uint8(17), uint16(1), uint16(53), true, true, []byte{0x60, 0, 0})
	f.Fuzz(func(t *testing.T, addrs []byte, proto uint8, sp, dp uint16, v6, ext bool, raw []byte) {
		if src, dst, _, ok := parsePacket(raw); ok && src.Addr().Is4() != dst.Addr().Is4() {
			t.Fatalf("mixed families %v %v", src, dst)
		}
		var b [32]byte
		copy(b[:], addrs)
		s, d := netip.AddrFrom4([4]byte(b[:4])), netip.AddrFrom4([4]byte(b[4:8]))
		if v6 {
			s, d = netip.AddrFrom16([16]byte(b[:16])), netip.AddrFrom16([16]byte(b[16:]))
		}
		switch proto {
		case 0, 43, 44, 60: // IPv6 extension header numbers are not transports
			proto = 6
		}
		src, dst, gotProto, ok := parsePacket(ipPacket(s, d, proto, sp, dp, v6 && ext))
		if proto != 6 && proto != 17 {
			sp, dp = 0, 0
		}
		if !ok || src != netip.AddrPortFrom(s, sp) || dst != netip.AddrPortFrom(d, dp) || gotProto != proto {
			t.Fatalf("built %v:%d > %v:%d proto %d, read %v > %v proto %d ok %v", s, sp, d, dp, proto, src, dst, gotProto, ok)
		}
	})
}
