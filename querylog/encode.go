package querylog

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// tsLayout keeps nine fractional digits so lines sort lexically by time.
const tsLayout = "2006-01-02T15:04:05.000000000Z07:00"

// appendTS appends t in UTC as tsLayout formats it, or, with frac 6, as
// an RFC 5424 timestamp (at most six fractional digits) does. It writes
// the digits itself, for every record: AppendFormat, reading its layout
// each time, was a tenth of the query log's CPU. Years outside 0-9999,
// which no record has, go through AppendFormat.
func appendTS(b []byte, t time.Time, frac int) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, tsLayout[:20]+tsLayout[29-frac:])
	}
	hour, minute, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond()/pow10[9-frac], frac)
	return append(b, 'Z')
}

// pow10 is 10 to the power of its index.
var pow10 = [...]int{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000}

// appendDigits appends n, at least 0, as exactly width decimal digits.
func appendDigits(b []byte, n, width int) []byte {
	b = append(b, "000000000"[:width]...)
	for i := len(b) - 1; width > 0; i, width = i-1, width-1 {
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return b
}

// Format names accepted in Config.Format and by Export.
const (
	FormatJSON = "json"
	FormatKV   = "kv"
)

// AppendLine appends r as one line of the log file (with its newline) in
// format, FormatJSON or FormatKV: for tools that write logs to read back.
func AppendLine(b []byte, format string, r *Record) []byte {
	return appendFormat(b, format, r)
}

// appendFormat appends r as one line (with its newline) in format.
func appendFormat(b []byte, format string, r *Record) []byte {
	if format == FormatKV {
		return appendKV(b, r)
	}
	return appendJSON(b, r)
}

// appendJSON appends r as one JSON line. The field order is fixed and
// documented so that plain-text tools can rely on it too.
func appendJSON(b []byte, r *Record) []byte {
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(r.V), 10)
	b = append(b, `,"ts":"`...)
	b = appendTS(b, r.Time, 9)
	b = append(b, `","qid":`...)
	b = appendJSONString(b, r.QID)
	b = append(b, `,"proto":`...)
	b = appendJSONString(b, r.Proto)
	b = append(b, `,"client":"`...)
	b = r.Client.AppendTo(b)
	b = append(b, `","client_port":`...)
	b = strconv.AppendUint(b, uint64(r.ClientPort), 10)
	if r.ClientMAC != "" {
		b = append(b, `,"client_mac":`...)
		b = appendJSONString(b, r.ClientMAC)
	}
	if r.ClientHost != "" {
		b = append(b, `,"client_host":`...)
		b = appendJSONString(b, r.ClientHost)
	}
	b = append(b, `,"qname":`...)
	b = appendJSONString(b, r.QName)
	b = append(b, `,"qtype":`...)
	b = appendJSONString(b, r.QType)
	b = append(b, `,"rcode":`...)
	b = appendJSONString(b, r.Rcode)
	b = append(b, `,"source":`...)
	b = appendJSONString(b, r.Source)
	if r.Upstream != "" {
		b = append(b, `,"upstream":`...)
		b = appendJSONString(b, r.Upstream)
	}
	b = append(b, `,"latency_us":`...)
	b = strconv.AppendInt(b, r.LatencyUS, 10)
	if r.BlockList != "" {
		b = append(b, `,"block_list":`...)
		b = appendJSONString(b, r.BlockList)
	}
	if r.BlockRule != "" {
		b = append(b, `,"block_rule":`...)
		b = appendJSONString(b, r.BlockRule)
	}
	if r.Error != "" {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, r.Error)
	}
	if r.RebindAddr != "" {
		b = append(b, `,"rebind_address":`...)
		b = appendJSONString(b, r.RebindAddr)
	}
	if r.Type != "" {
		b = append(b, `,"name":`...)
		b = appendJSONString(b, r.Name)
		b = append(b, `,"type":`...)
		b = appendJSONString(b, r.Type)
		b = append(b, `,"data":`...)
		b = appendJSONString(b, r.Data)
		b = append(b, `,"ttl":`...)
		b = strconv.AppendUint(b, uint64(r.TTL), 10)
	}
	if len(r.Chain) > 0 {
		b = append(b, `,"chain":[`...)
		for i, n := range r.Chain {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, n)
		}
		b = append(b, ']')
	}
	return append(b, "}\n"...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s for JSON, replacing invalid UTF-8 so a hostile
// name can never produce an unparsable line.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendKV appends r as one key=value line; empty optional fields are left
// out so that every present key carries information.
func appendKV(b []byte, r *Record) []byte {
	b = append(b, "ts="...)
	b = appendTS(b, r.Time, 9)
	b = append(b, " v="...)
	b = strconv.AppendInt(b, int64(r.V), 10)
	b = appendKVField(b, "qid", r.QID)
	b = appendKVField(b, "proto", r.Proto)
	b = append(b, " client="...)
	b = r.Client.AppendTo(b)
	b = append(b, " client_port="...)
	b = strconv.AppendUint(b, uint64(r.ClientPort), 10)
	if r.ClientMAC != "" {
		b = appendKVField(b, "client_mac", r.ClientMAC)
	}
	if r.ClientHost != "" {
		b = appendKVField(b, "client_host", r.ClientHost)
	}
	b = appendKVField(b, "qname", r.QName)
	b = appendKVField(b, "qtype", r.QType)
	b = appendKVField(b, "rcode", r.Rcode)
	b = appendKVField(b, "source", r.Source)
	if r.Upstream != "" {
		b = appendKVField(b, "upstream", r.Upstream)
	}
	b = append(b, " latency_us="...)
	b = strconv.AppendInt(b, r.LatencyUS, 10)
	if r.BlockList != "" {
		b = appendKVField(b, "block_list", r.BlockList)
	}
	if r.BlockRule != "" {
		b = appendKVField(b, "block_rule", r.BlockRule)
	}
	if r.Error != "" {
		b = appendKVField(b, "error", r.Error)
	}
	if r.RebindAddr != "" {
		b = appendKVField(b, "rebind_address", r.RebindAddr)
	}
	if r.Type != "" {
		b = appendKVField(b, "name", r.Name)
		b = appendKVField(b, "type", r.Type)
		b = appendKVField(b, "data", r.Data)
		b = append(b, " ttl="...)
		b = strconv.AppendUint(b, uint64(r.TTL), 10)
	}
	if len(r.Chain) > 0 {
		// The chain is joined in place so that a name needing quotes
		// quotes the whole value, keeping one value per key. Names are
		// split on commas when decoding, so a comma inside a name (legal
		// but unseen in practice) does not survive a kv round trip.
		b = append(b, " chain="...)
		mark := len(b)
		plain := true
		for i, n := range r.Chain {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, n...)
			plain = plain && !needsQuote(n)
		}
		if !plain {
			joined := string(b[mark:])
			b = strconv.AppendQuote(b[:mark], joined)
		}
	}
	return append(b, '\n')
}

func appendKVField(b []byte, key, val string) []byte {
	b = append(b, ' ')
	b = append(b, key...)
	b = append(b, '=')
	if needsQuote(val) {
		return strconv.AppendQuote(b, val)
	}
	return append(b, val...)
}

// needsQuote reports whether val would be ambiguous unquoted: empty, or
// holding separators, quotes, escapes or non-printable bytes.
func needsQuote(val string) bool {
	if val == "" {
		return true
	}
	for i := 0; i < len(val); i++ {
		c := val[i]
		if c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f {
			return true
		}
	}
	return false
}
