package flows

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// Lines as routers and syslog daemons send them.
const (
	kernelV4  = "dnsward-drop IN=br-lan OUT=eth0 MAC=aa:bb:cc:dd:ee:ff:11:22:33:44:55:66:08:00 SRC=192.168.1.23 DST=203.0.113.5 LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=4242 DF PROTO=TCP SPT=40512 DPT=25 WINDOW=64240 RES=0x00 SYN URGP=0"
	kernelV6  = "[ 8812.337711] fw: reject IN=br-lan OUT=wan MAC=aa:bb:cc:dd:ee:ff:11:22:33:44:55:66:86:dd SRC=2001:0db8:0000:0000:0000:0000:0000:0023 DST=2001:0db8:0001:0000:0000:0000:0000:0001 LEN=80 TC=0 HOPLIMIT=63 FLOWLBL=0 PROTO=UDP SPT=5353 DPT=443 LEN=40"
	kernelICM = "IN=eth1 OUT=eth0 SRC=192.168.1.23 DST=198.51.100.9 LEN=84 TOS=0x00 PREC=0x00 TTL=63 ID=1 DF PROTO=ICMP TYPE=8 CODE=0 ID=7 SEQ=1"
)

func TestParseSyslogLines(t *testing.T) {
	for _, tc := range []struct {
		name, line   string
		ok           bool
		client, dest string
		proto        Proto
		prefix       string
	}{
		{"openwrt rfc3164", "<4>Dec  1 12:00:01 OpenWrt kernel: [12345.678901] " + kernelV4, true, "192.168.1.23:40512", "203.0.113.5:25", ProtoTCP, "dnsward-drop"},
		{"rfc3164 no host", "<4>Dec  1 12:00:01 kernel: " + kernelV4, true, "192.168.1.23:40512", "203.0.113.5:25", ProtoTCP, "dnsward-drop"},
		{"rfc3164 no timestamp", "<4>kernel: " + kernelV4 + "\n", true, "192.168.1.23:40512", "203.0.113.5:25", ProtoTCP, "dnsward-drop"},
		{"rfc3164 rfc3339 time", "<4>2026-12-01T12:00:01+00:00 gw kernel: " + kernelV4, true, "192.168.1.23:40512", "203.0.113.5:25", ProtoTCP, "dnsward-drop"},
		{"rsyslog rfc5424", "<4>1 2026-12-01T12:00:01.123Z gw kernel - - - " + kernelV6, true, "[2001:db8::23]:5353", "[2001:db8:1::1]:443", ProtoUDP, "fw: reject"},
		{"rfc5424 sd and bom", `<4>1 2026-12-01T12:00:01Z gw kernel 1 ID7 [x@1 a="b\]c" d="]"][y@2] ` + "\ufeff" + kernelV4, true, "192.168.1.23:40512", "203.0.113.5:25", ProtoTCP, "dnsward-drop"},
		{"icmp no ports no prefix", "<4>Dec  1 12:00:01 gw kernel: " + kernelICM, true, "192.168.1.23:0", "198.51.100.9:0", ProtoICMP, ""},
		{"no pri", "Dec  1 12:00:01 gw kernel: " + kernelV4, false, "", "", 0, ""},
		{"pri too big", "<192>kernel: " + kernelV4, false, "", "", 0, ""},
		{"rfc5424 bad sd", "<4>1 2026-12-01T12:00:01Z gw kernel - - [x " + kernelV4, false, "", "", 0, ""},
		{"rfc5424 short", "<4>1 2026-12-01T12:00:01Z gw", false, "", "", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, ok := parseSyslog(tc.line)
			if ok != tc.ok {
				t.Fatalf("syslog ok %v, want %v (msg %q)", ok, tc.ok, msg)
			}
			if !ok {
				return
			}
			f, ok := parseKernelLog(msg)
			if !ok {
				t.Fatalf("not a packet log: %q", msg)
			}
			if f.Client.String() != tc.client || f.Dest.String() != tc.dest || f.Proto != tc.proto || f.Prefix != tc.prefix {
				t.Fatalf("got %v > %v %v prefix %q, want %s > %s %v %q", f.Client, f.Dest, f.Proto, f.Prefix, tc.client, tc.dest, tc.proto, tc.prefix)
			}
		})
	}
}

func TestParseKernelLogRejects(t *testing.T) {
	for _, msg := range []string{
		"",
		"martian source 10.0.0.1 from 10.0.0.2, on dev eth0",
		"IN=eth0 OUT= SRC=10.0.0.1 PROTO=TCP",               // no DST
		"IN=eth0 SRC=10.0.0.1 DST=10.0.0.2",                 // no PROTO
		"IN=eth0 SRC=10.0.0.1 DST=2001:db8::1 PROTO=TCP",    // mixed families
		"IN=eth0 SRC=10.0.0.1 DST=10.0.0.2 PROTO=TCP SPT=x", // bad port
		"IN=eth0 SRC=10.0.0.300 DST=10.0.0.2 PROTO=TCP",
		"LOGIN=x SRC=10.0.0.1 DST=10.0.0.2 PROTO=TCP", // IN= inside a word
	} {
		if f, ok := parseKernelLog(msg); ok {
			t.Errorf("%q parsed as %+v", msg, f)
		}
	}
	if f, ok := parseKernelLog("IN=eth0 SRC=10.0.0.1 DST=10.0.0.2 PROTO=47"); !ok || f.Proto != ProtoOther {
		t.Errorf("numeric proto: %+v %v", f, ok)
	}
}

// syslogFormats wrap a kernel message the ways senders do.
var syslogFormats = []string{
	"<4>Dec  1 12:00:01 gw kernel: [ 12.5] %s",
	"<4>Dec 11 12:00:01 kernel: %s",
	"<12>1 2026-12-01T12:00:01Z gw kernel - - - %s",
	`<12>1 2026-12-01T12:00:01Z gw kernel 9 - [a@1 b="]"] %s`,
}

// FuzzSyslogLine: any line parses without panicking, a packet read from
// it has same-family addresses and ports only for TCP and UDP; and a
// packet-log line built from the inputs, in every format, reads back as
// built.
func FuzzSyslogLine(f *testing.F) {
	f.Add("<4>Dec  1 12:00:01 OpenWrt kernel: "+kernelV4, []byte{192, 168, 1, 23, 203, 0, 113, 5}, uint16(40512), uint16(25), "dnsward-drop ", uint8(0), false)
	f.Add("<4>1 - - - - - - "+kernelV6, []byte("2001:db8::23-----2001:db8:1::1---"), uint16(1), uint16(2), "fw: reject", uint8(1), true)
	f.Fuzz(func(t *testing.T, line string, addrs []byte, sp, dp uint16, prefix string, proto uint8, v6 bool) {
		if msg, ok := parseSyslog(line); ok {
			if p, ok := parseKernelLog(msg); ok {
				if p.Client.Addr().Is4() != p.Dest.Addr().Is4() {
					t.Fatalf("mixed families in %q", line)
				}
				if p.Proto != ProtoTCP && p.Proto != ProtoUDP && (p.Client.Port() != 0 || p.Dest.Port() != 0) {
					t.Fatalf("ports for %v in %q", p.Proto, line)
				}
			}
		}

		var b [32]byte
		copy(b[:], addrs)
		src, dst := netip.AddrFrom4([4]byte(b[:4])), netip.AddrFrom4([4]byte(b[4:8]))
		if v6 {
			src, dst = netip.AddrFrom16([16]byte(b[:16])).Unmap(), netip.AddrFrom16([16]byte(b[16:])).Unmap()
			if src.Is4() != dst.Is4() {
				return
			}
		}
		protos := []string{"TCP", "UDP", "ICMP", "ICMPv6"}
		name := protos[int(proto)%len(protos)]
		// A prefix is free text to the kernel; keep what cannot be
		// told from the fields or the header apart.
		prefix = strings.Map(func(r rune) rune {
			if r < ' ' || r > '~' || r == '=' || r == '[' {
				return -1
			}
			return r
		}, prefix)
		msg := fmt.Sprintf("%s IN=eth1 OUT=eth0 SRC=%s DST=%s LEN=60 PROTO=%s SPT=%d DPT=%d SYN", prefix, src, dst, name, sp, dp)
		wantC, wantD := netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp)
		if name != "TCP" && name != "UDP" {
			wantC, wantD = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
		}
		for _, format := range syslogFormats {
			line := fmt.Sprintf(format, msg)
			m, ok := parseSyslog(line)
			if !ok {
				t.Fatalf("%q: not syslog", line)
			}
			p, ok := parseKernelLog(m)
			if !ok || p.Client != wantC || p.Dest != wantD || p.Prefix != strings.TrimSpace(prefix) || p.Proto.String() != strings.ToLower(strings.TrimSuffix(name, "v6")) {
				t.Fatalf("%q\nread %v > %v %v prefix %q ok %v", line, p.Client, p.Dest, p.Proto, p.Prefix, ok)
			}
		}
	})
}
