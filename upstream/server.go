package upstream

import "net/netip"

// Server says where u sends its queries and over which transport ("udp"
// or "tcp"), for dnstap's forwarder messages; ok is false when u is
// dialled by host name or says nothing of its server.
func Server(u Upstream) (addr netip.AddrPort, transport string, ok bool) {
	var hostPort string
	switch u := u.(type) {
	case *Plain:
		hostPort, transport = u.Addr, "udp"
		if u.TCPOnly {
			transport = "tcp"
		}
	case *DNSCrypt:
		hostPort, transport = u.stamp.ServerAddrStr, "udp"
	case *DoT:
		hostPort, transport = u.target.addr, "tcp"
	case *DoH:
		hostPort, transport = u.addr, "tcp"
	default:
		return netip.AddrPort{}, "", false
	}
	addr, err := netip.ParseAddrPort(hostPort)
	if err != nil {
		return netip.AddrPort{}, "", false
	}
	return addr, transport, true
}
