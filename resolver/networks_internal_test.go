package resolver

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// The lists built from privateNetworks hold what the three separate lists
// they replaced held.
func TestPrivateNetworkLists(t *testing.T) {
	all := privatePrefixes(func(privateNetwork) bool { return true })
	for _, tt := range []struct {
		name string
		got  []netip.Prefix
		want string
	}{
		{"default clients", DefaultClients(), "10.0.0.0/8 100.64.0.0/10 127.0.0.0/8 169.254.0.0/16 172.16.0.0/12 192.168.0.0/16 ::1/128 fc00::/7 fe80::/10"},
		{"rebinding", rebindNetworks(), "0.0.0.0/8 10.0.0.0/8 100.64.0.0/10 127.0.0.0/8 169.254.0.0/16 172.16.0.0/12 192.168.0.0/16 ::/128 ::1/128 fc00::/7 fe80::/10"},
		{"private reverse", all, "0.0.0.0/8 10.0.0.0/8 100.64.0.0/10 127.0.0.0/8 169.254.0.0/16 172.16.0.0/12 192.0.2.0/24 192.168.0.0/16 198.51.100.0/24 2001:db8::/32 " +
			"203.0.113.0/24 255.255.255.255/32 ::/128 ::1/128 fc00::/7 fe80::/10"},
	} {
		var got []string
		for _, p := range tt.got {
			got = append(got, p.String())
		}
		slices.Sort(got)
		if strings.Join(got, " ") != tt.want {
			t.Errorf("%s: %v, want %s", tt.name, got, tt.want)
		}
	}
}
