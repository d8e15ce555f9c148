package resolver

import (
	"net"
	"net/netip"
	"testing"
)

func TestAddrPortDropsZone(t *testing.T) {
	for _, tt := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 5300, Zone: "eth0"}, "[fe80::1]:5300"},
		{&net.TCPAddr{IP: net.ParseIP("192.168.1.2").To4(), Port: 5300}, "192.168.1.2:5300"},
		{&net.UnixAddr{Name: "/run/x", Net: "unix"}, "invalid AddrPort"},
	} {
		got := addrPort(tt.addr)
		if got.String() != tt.want {
			t.Errorf("addrPort(%v) = %v, want %s", tt.addr, got, tt.want)
		}
		if got.IsValid() && !contains([]netip.Prefix{netip.MustParsePrefix("fe80::/10"), netip.MustParsePrefix("192.168.0.0/16")}, got.Addr().Unmap()) {
			t.Errorf("addrPort(%v) = %v: not in its allowed network", tt.addr, got)
		}
	}
}
