package web

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// appendEvent appends ev as encoding/json marshals it, without its
// reflection: the stream encodes every event it sends, and json.Marshal
// was a quarter of what five open streams cost the resolver.
func appendEvent(b []byte, ev *Event) []byte {
	b = append(b, `{"time":"`...)
	b = ev.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","client":"`...)
	mark := len(b)
	if b = ev.Client.AppendTo(b); !plain(b[mark:]) { // an odd IPv6 zone
		b = appendString(b[:mark-1], ev.Client.String())
	} else {
		b = append(b, '"')
	}
	b = appendField(b, "host", ev.Host, true)
	b = appendField(b, "name", ev.Name, false)
	b = appendField(b, "type", ev.Type, false)
	b = appendField(b, "source", ev.Source, false)
	b = appendField(b, "rcode", ev.Rcode, false)
	b = appendField(b, "upstream", ev.Upstream, true)
	b = appendField(b, "block_list", ev.BlockList, true)
	b = appendField(b, "block_rule", ev.BlockRule, true)
	b = append(b, `,"latency_ms":`...)
	if f := math.Abs(ev.LatencyMS); f == 0 || f >= 1e-6 && f < 1e21 {
		b = strconv.AppendFloat(b, ev.LatencyMS, 'f', -1, 64)
	} else {
		// Exponents, NaN and infinities: json's own rules.
		v, _ := json.Marshal(ev.LatencyMS)
		b = append(b, v...)
	}
	return append(b, '}')
}

// appendField appends ,"key":"value", or nothing for an empty value
// when the field is omitempty.
func appendField(b []byte, key, value string, omitEmpty bool) []byte {
	if omitEmpty && value == "" {
		return b
	}
	b = append(b, `,"`...)
	b = append(b, key...)
	b = append(b, `":`...)
	return appendString(b, value)
}

// appendString appends s as a JSON string. Names are plain ASCII but for
// rare exceptions, which json.Marshal escapes as it always did (HTML
// characters included).
func appendString(b []byte, s string) []byte {
	if !plain(s) {
		v, _ := json.Marshal(s)
		return append(b, v...)
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// plain is whether s is printable ASCII json.Marshal leaves as it is.
func plain[S string | []byte](s S) bool {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}
