package flows

import (
	"net/netip"
	"strconv"
	"strings"
)

// parseSyslog returns the message of one RFC 5424 or RFC 3164 syslog
// line, without its header; ok is false when the line has no valid
// <PRI>. RFC 3164 headers are parsed leniently, as routers write them:
// the timestamp and the hostname may each be missing.
func parseSyslog(line string) (msg string, ok bool) {
	line = strings.TrimRight(line, "\r\n\x00")
	end := strings.IndexByte(line, '>')
	if len(line) < 3 || line[0] != '<' || end < 2 || end > 4 {
		return "", false
	}
	if pri, err := strconv.Atoi(line[1:end]); err != nil || pri > 191 {
		return "", false
	}
	rest := line[end+1:]
	if strings.HasPrefix(rest, "1 ") {
		return parse5424(rest[2:])
	}
	return parse3164(rest), true
}

// parse5424 skips TIMESTAMP HOSTNAME APP-NAME PROCID MSGID and the
// structured data of an RFC 5424 line.
func parse5424(s string) (string, bool) {
	for range 5 {
		i := strings.IndexByte(s, ' ')
		if i <= 0 {
			return "", false
		}
		s = s[i+1:]
	}
	switch {
	case strings.HasPrefix(s, "-"):
		s = s[1:]
	case strings.HasPrefix(s, "["):
		n, ok := structuredDataLen(s)
		if !ok {
			return "", false
		}
		s = s[n:]
	default:
		return "", false
	}
	if s != "" && s[0] != ' ' {
		return "", false
	}
	return strings.TrimPrefix(strings.TrimPrefix(s, " "), "\ufeff"), true
}

// structuredDataLen is the length of the SD-ELEMENTs s starts with; a
// "]" inside a quoted parameter value does not end an element.
func structuredDataLen(s string) (int, bool) {
	i := 0
	for i < len(s) && s[i] == '[' {
		quoted := false
		for i++; ; i++ {
			if i >= len(s) {
				return 0, false
			}
			c := s[i]
			if quoted && c == '\\' {
				i++
				continue
			}
			if c == '"' {
				quoted = !quoted
			}
			if !quoted && c == ']' {
				break
			}
		}
		i++
	}
	return i, true
}

// parse3164 skips an RFC 3164 header: an optional "Mmm dd hh:mm:ss" or
// RFC 3339 timestamp, an optional hostname, and a "tag:" when present.
func parse3164(s string) string {
	if len(s) >= 16 && s[3] == ' ' && s[6] == ' ' && s[9] == ':' && s[12] == ':' && s[15] == ' ' {
		s = s[16:]
	} else if i := strings.IndexByte(s, ' '); i > 0 && s[0] >= '0' && s[0] <= '9' && strings.Contains(s[:i], "T") {
		s = s[i+1:]
	}
	// "host tag: msg" or "tag: msg": a first word ending in ':' is the
	// tag, else it is the host and a tag may follow.
	for range 2 {
		i := strings.IndexByte(s, ' ')
		if i <= 0 {
			return s
		}
		if s[i-1] == ':' {
			return s[i+1:]
		}
		if strings.Contains(s[:i], "IN=") || strings.HasPrefix(s, "[") {
			return s
		}
		s = s[i+1:]
	}
	return s
}

// parseKernelLog reads a kernel packet-log line as iptables LOG and
// nftables `log` write it: "[ts] PREFIX IN=eth1 OUT=eth0 ... SRC=a DST=b
// ... PROTO=TCP SPT=p DPT=q ...". ok is false when it is not one.
func parseKernelLog(msg string) (f Flow, ok bool) {
	msg = stripKernelTime(msg)
	in := 0
	for {
		j := strings.Index(msg[in:], "IN=")
		if j < 0 {
			return f, false
		}
		if in += j; in == 0 || msg[in-1] == ' ' {
			break
		}
		in++
	}
	f.Prefix = strings.TrimSpace(msg[:in])
	var src, dst netip.Addr
	var sport, dport uint16
	haveProto := false
	for field := range strings.FieldsSeq(msg[in:]) {
		k, v, found := strings.Cut(field, "=")
		if !found {
			continue
		}
		var err error
		switch k {
		case "SRC":
			src, err = netip.ParseAddr(v)
		case "DST":
			dst, err = netip.ParseAddr(v)
		case "PROTO":
			f.Proto, haveProto = kernelProto(v), true
		case "SPT":
			sport, err = parsePort(v)
		case "DPT":
			dport, err = parsePort(v)
		}
		if err != nil {
			return Flow{}, false
		}
	}
	if !src.IsValid() || !dst.IsValid() || !haveProto || src.Is4() != dst.Is4() {
		return Flow{}, false
	}
	if f.Proto != ProtoTCP && f.Proto != ProtoUDP {
		sport, dport = 0, 0
	}
	f.Client = netip.AddrPortFrom(src.Unmap(), sport)
	f.Dest = netip.AddrPortFrom(dst.Unmap(), dport)
	return f, true
}

func stripKernelTime(s string) string {
	if !strings.HasPrefix(s, "[") {
		return s
	}
	end := strings.IndexByte(s, ']')
	if end < 0 || strings.Trim(s[1:end], " 0123456789.") != "" {
		return s
	}
	return strings.TrimLeft(s[end+1:], " ")
}

func kernelProto(v string) Proto {
	switch v {
	case "TCP":
		return ProtoTCP
	case "UDP", "UDPLITE":
		return ProtoUDP
	case "ICMP", "ICMPv6":
		return ProtoICMP
	}
	if n, err := strconv.ParseUint(v, 10, 8); err == nil {
		return ProtoFromIP(uint8(n))
	}
	return ProtoOther
}

func parsePort(v string) (uint16, error) {
	n, err := strconv.ParseUint(v, 10, 16)
	return uint16(n), err
}
