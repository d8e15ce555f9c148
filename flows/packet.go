package flows

import (
	"encoding/binary"
	"net/netip"
)

// parsePacket reads the addresses, protocol and ports of an IPv4 or IPv6
// packet's first bytes, as nflog copies them; ok is false when the header
// is cut short or is neither version. A non-first fragment and ICMP carry
// no ports.
func parsePacket(b []byte) (src, dst netip.AddrPort, proto uint8, ok bool) {
	if len(b) < 1 {
		return src, dst, 0, false
	}
	var s, d netip.Addr
	var l4 []byte
	switch b[0] >> 4 {
	case 4:
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl {
			return src, dst, 0, false
		}
		proto = b[9]
		s = netip.AddrFrom4([4]byte(b[12:16]))
		d = netip.AddrFrom4([4]byte(b[16:20]))
		if binary.BigEndian.Uint16(b[6:8])&0x1fff == 0 {
			l4 = b[ihl:]
		}
	case 6:
		if len(b) < 40 {
			return src, dst, 0, false
		}
		s = netip.AddrFrom16([16]byte(b[8:24]))
		d = netip.AddrFrom16([16]byte(b[24:40]))
		proto, l4 = skipIPv6Extensions(b[6], b[40:])
	default:
		return src, dst, 0, false
	}
	var sp, dp uint16
	if (proto == 6 || proto == 17) && len(l4) >= 4 {
		sp, dp = binary.BigEndian.Uint16(l4[0:2]), binary.BigEndian.Uint16(l4[2:4])
	}
	return netip.AddrPortFrom(s, sp), netip.AddrPortFrom(d, dp), proto, true
}

// skipIPv6Extensions follows the extension header chain to the transport
// header; rest is nil when it is cut short or behind a non-first fragment.
func skipIPv6Extensions(next uint8, b []byte) (proto uint8, rest []byte) {
	for {
		switch next {
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(b) < 8 || len(b) < (int(b[1])+1)*8 {
				return next, nil
			}
			next, b = b[0], b[(int(b[1])+1)*8:]
		case 44: // fragment
			if len(b) < 8 {
				return next, nil
			}
			first := binary.BigEndian.Uint16(b[2:4])&0xfff8 == 0
			next, b = b[0], b[8:]
			if !first {
				return next, nil
			}
		default:
			return next, b
		}
	}
}
