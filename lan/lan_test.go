package lan

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func answers(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		out = append(out, strings.Join(strings.Fields(rr.String()), " "))
	}
	return out
}

func TestLoad(t *testing.T) {
	hosts := write(t, "hosts", `# comment
127.0.0.1	localhost
192.168.1.10	nas nas.home.example  # trailing comment
192.168.1.11	printer
fd00::10	nas
not-an-ip	broken
192.168.1.12
192.168.1.13	bad_name!
`)
	future := time.Now().Add(time.Hour).Unix()
	dnsmasq := write(t, "dnsmasq.leases", strings.Join([]string{
		itoa(future) + " aa:bb:cc:dd:ee:01 192.168.1.50 laptop 01:aa",
		itoa(future) + " aa:bb:cc:dd:ee:02 192.168.1.51 * *",
		"1000 aa:bb:cc:dd:ee:03 192.168.1.52 expired *",
		"0 aa:bb:cc:dd:ee:04 192.168.1.53 forever *",
		"duid 00:01:00:01",
	}, "\n"))
	isc := write(t, "dhcpd.leases", `lease 192.168.1.60 {
  starts 4 2020/01/01 00:00:00;
  ends never;
  binding state active;
  client-hostname "phone";
}
lease 192.168.1.61 {
  ends never;
  binding state active;
  client-hostname "tablet";
}
lease 192.168.1.61 {
  binding state free;
}
lease 192.168.1.62 {
  ends 4 2020/01/01 00:00:00;
  binding state active;
  client-hostname "old";
}
`)
	names, err := Load(Config{
		HostsFiles:  []string{hosts},
		LeasesFiles: []string{dnsmasq, isc},
		Records:     []string{"router.lan. 60 IN A 192.168.1.1", "gw.lan. 60 IN CNAME router.lan.", "junk"},
		Domain:      "lan",
		TTL:         30 * time.Second,
	})
	for _, want := range []string{hosts + ":6:", hosts + ":7: address", hosts + ":8: invalid host name", `local record 3 "junk"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	tests := []struct {
		name  string
		qtype uint16
		want  []string
		found bool
	}{
		{"NAS.lan.", dns.TypeA, []string{"nas.lan. 30 IN A 192.168.1.10"}, true},
		{"nas.", dns.TypeAAAA, []string{"nas. 30 IN AAAA fd00::10"}, true},
		{"nas.home.example", dns.TypeA, []string{"nas.home.example. 30 IN A 192.168.1.10"}, true},
		{"nas.lan.", dns.TypeMX, nil, true},
		{"10.1.168.192.in-addr.arpa.", dns.TypePTR, []string{"10.1.168.192.in-addr.arpa. 30 IN PTR nas.lan."}, true},
		{"laptop.lan.", dns.TypeA, []string{"laptop.lan. 30 IN A 192.168.1.50"}, true},
		{"forever.lan.", dns.TypeA, []string{"forever.lan. 30 IN A 192.168.1.53"}, true},
		{"expired.lan.", dns.TypeA, nil, false},
		{"phone.lan.", dns.TypeA, []string{"phone.lan. 30 IN A 192.168.1.60"}, true},
		{"tablet.lan.", dns.TypeA, nil, false},
		{"old.lan.", dns.TypeA, nil, false},
		{"gw.lan.", dns.TypeA, []string{"gw.lan. 60 IN CNAME router.lan.", "router.lan. 60 IN A 192.168.1.1"}, true},
		{"elsewhere.example.", dns.TypeA, nil, false},
	}
	for _, tt := range tests {
		got, found := names.Lookup(tt.name, tt.qtype)
		if found != tt.found || !slices.Equal(answers(got), tt.want) {
			t.Errorf("Lookup(%s, %s) = %v %v, want %v %v", tt.name, dns.TypeToString[tt.qtype], answers(got), found, tt.want, tt.found)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestAddresses: in every file format an IPv4-mapped address is answered as
// the IPv4 address it is, and an address with a zone is refused with its
// file and line, as the fuzz properties require.
func TestAddresses(t *testing.T) {
	tests := []struct {
		format        string
		hosts         bool // a hosts file, else a leases file
		mapped, zoned string
		zonedLine     int
	}{
		{"hosts", true, "::ffff:10.0.0.7 mapped\n", "fe80::1%eth0 zoned\n", 1},
		{"dnsmasq", false, "0 aa:bb 10.0.0.7 x\n0 aa:cc ::ffff:10.0.0.7 mapped *\n", "0 aa:bb 10.0.0.7 x\n0 aa:dd fe80::1%eth0 zoned *\n", 2},
		{"isc", false, "lease ::ffff:10.0.0.7 {\n binding state active;\n client-hostname \"mapped\";\n}\n",
			"lease 10.0.0.7 {\n}\nlease fe80::1%eth0 {\n binding state active;\n client-hostname \"zoned\";\n}\n", 3},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			mapped, zoned := write(t, "mapped", tt.mapped), write(t, "zoned", tt.zoned)
			cfg := Config{LeasesFiles: []string{mapped, zoned}}
			if tt.hosts {
				cfg = Config{HostsFiles: []string{mapped, zoned}}
			}
			names, err := Load(cfg)
			want := fmt.Sprintf(`%s:%d: address "fe80::1%%eth0" has a zone`, zoned, tt.zonedLine)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v lacks %q", err, want)
			}
			if got, _ := names.Lookup("mapped.", dns.TypeA); len(got) != 1 || got[0].(*dns.A).A.String() != "10.0.0.7" {
				t.Errorf("mapped. A = %v, want 10.0.0.7", answers(got))
			}
			if got, found := names.Lookup("zoned.", dns.TypeAAAA); found {
				t.Errorf("zoned. is known: %v", answers(got))
			}
		})
	}
}

// TestWatchReloadsChangedFiles replaces the hosts file by rename, as editors
// and DHCP servers do, after the watch started and, as at start-up, after
// the names were loaded but before the watch started.
func TestWatchReloadsChangedFiles(t *testing.T) {
	for _, beforeWatch := range []bool{false, true} {
		t.Run(fmt.Sprintf("changed before the watch started %v", beforeWatch), func(t *testing.T) {
			hosts := write(t, "hosts", "192.168.1.10 nas\n")
			cfg := Config{HostsFiles: []string{hosts}, TTL: time.Minute}
			loaded, err := Load(cfg)
			if err != nil {
				t.Fatal(err)
			}
			replace := func() {
				tmp := hosts + ".new"
				if err := os.WriteFile(tmp, []byte("192.168.1.10 nas\n192.168.1.11 printer\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(tmp, hosts); err != nil {
					t.Fatal(err)
				}
			}
			if beforeWatch {
				replace()
			}
			got := make(chan *Names, 1)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				Watch(ctx, cfg, loaded, 10*time.Millisecond, func(n *Names, err error) {
					if err != nil {
						t.Errorf("reload: %v", err)
					}
					select {
					case got <- n:
					default:
					}
				})
			}()
			defer func() { cancel(); <-done }()
			if !beforeWatch {
				replace()
			}
			select {
			case n := <-got:
				if _, found := n.Lookup("printer.", dns.TypeA); !found {
					t.Error("new name missing after reload")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("change not noticed in 10s")
			}
		})
	}
}
