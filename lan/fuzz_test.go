package lan

import (
	"github.com/miekg/dns"
	"testing"
	"time"
)

func FuzzParseHosts(f *testing.F) {
	f.Add([]byte("127.0.0.1 localhost\n::1 localhost ip6-localhost\n192.168.1.10 nas nas.lan # c\n"))
	f.Add([]byte("fe80::1%eth0 router\n\xff\xfe 1.2.3.4\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, _ := parseHosts("hosts", data)
		b := &builder{names: &Names{byName: map[string][]dns.RR{}}}
		for _, e := range entries {
			for i, name := range e.names {
				_ = b.host(e.addr, name, i == 0)
			}
		}
	})
}

func FuzzParseLeases(f *testing.F) {
	f.Add([]byte("1700000000 aa:bb:cc:dd:ee:ff 192.168.1.5 laptop 01:aa\n0 11:22 10.0.0.1 * *\nduid 00:01\n"))
	f.Add([]byte("lease 192.168.1.60 {\n  ends 4 2030/01/01 00:00:00;\n  binding state active;\n  client-hostname \"phone\";\n}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		parseLeases("leases", data)
		parseDnsmasq("leases", data, time.Unix(0, 0))
		parseISC("leases", data, time.Unix(0, 0))
	})
}
