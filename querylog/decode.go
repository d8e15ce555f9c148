package querylog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ParseLine decodes one log line in either format; the format is detected
// from the first byte so that mixed or converted archives read the same.
func ParseLine(line []byte) (Record, error) {
	line = bytes.TrimSpace(line)
	var r Record
	if len(line) > 0 && line[0] == '{' {
		if parseFlatJSON(line, &r) {
			return r, nil
		}
		r = Record{}
		if err := json.Unmarshal(line, &r); err != nil {
			return Record{}, fmt.Errorf("querylog: json record: %w", err)
		}
		return r, nil
	}
	if err := parseKV(string(line), &r); err != nil {
		return Record{}, fmt.Errorf("querylog: kv record: %w", err)
	}
	return r, nil
}

func parseKV(s string, r *Record) error {
	return splitKV(s, func(key, val string) error { return setKV(r, key, val) })
}

// splitKV calls set for each key=value pair of s, unquoting values.
func splitKV(s string, set func(key, val string) error) error {
	seen := false
	for {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			break
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return fmt.Errorf("missing '=' near %q", clip(s))
		}
		key := s[:eq]
		s = s[eq+1:]
		var val string
		if strings.HasPrefix(s, `"`) {
			end := quotedEnd(s)
			if end < 0 {
				return fmt.Errorf("unterminated quote in %s", key)
			}
			v, err := strconv.Unquote(s[:end])
			if err != nil {
				return fmt.Errorf("bad quoting in %s: %w", key, err)
			}
			val, s = v, s[end:]
		} else {
			end := strings.IndexByte(s, ' ')
			if end < 0 {
				end = len(s)
			}
			val, s = s[:end], s[end:]
		}
		if err := set(key, val); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		seen = true
	}
	if !seen {
		return errors.New("empty line")
	}
	return nil
}

// quotedEnd returns the index just past the closing quote of s, or -1.
func quotedEnd(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// parseFlatJSON decodes the JSON lines dnsward writes, several times
// faster than encoding/json: one flat object of strings without escapes,
// integers and arrays of such strings. It reports false on anything else
// (escapes, nulls, nested values, a number where a string belongs, bad
// syntax), for encoding/json to decode or reject.
func parseFlatJSON(b []byte, r *Record) bool {
	i := 1 // past '{'
	for {
		key, j, ok := flatString(b, skipSpace(b, i))
		if !ok {
			return false
		}
		i = skipSpace(b, j)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		if i >= len(b) {
			return false
		}
		switch c := b[i]; {
		case c == '"':
			val, j, ok := flatString(b, i)
			if !ok || numericKey(key) || string(key) == "chain" {
				return false
			}
			if string(key) == "client" && len(val) == 0 {
				r.Client = netip.Addr{} // as encoding/json reads it
			} else if setKV(r, string(key), string(val)) != nil {
				return false
			}
			i = j
		case c == '-' || c >= '0' && c <= '9':
			j := i + 1
			for j < len(b) && b[j] >= '0' && b[j] <= '9' {
				j++
			}
			if !numericKey(key) || setKV(r, string(key), string(b[i:j])) != nil {
				return false
			}
			i = j
		case c == '[':
			if string(key) != "chain" || r.Chain != nil {
				return false
			}
			r.Chain = []string{}
			i = skipSpace(b, i+1)
			for i < len(b) && b[i] != ']' {
				val, j, ok := flatString(b, i)
				if !ok {
					return false
				}
				r.Chain = append(r.Chain, string(val))
				i = skipSpace(b, j)
				if i < len(b) && b[i] == ',' {
					i = skipSpace(b, i+1)
				}
			}
			if i >= len(b) {
				return false
			}
			i++
		default:
			return false
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			return skipSpace(b, i+1) == len(b)
		default:
			return false
		}
	}
}

// numericKey reports whether the record field key holds an integer.
func numericKey(key []byte) bool {
	switch string(key) {
	case "v", "client_port", "latency_us", "ttl":
		return true
	}
	return false
}

// flatString reads the JSON string starting at b[i], which must hold no
// escapes, control bytes or invalid UTF-8, and returns its contents and
// the index past it.
func flatString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, false
	}
	ascii := true
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, ascii || utf8.Valid(b[i+1:j])
		case c == '\\' || c < 0x20:
			return nil, j, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, len(b), false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// setKV ignores unknown keys so that older readers accept newer logs.
func setKV(r *Record, key, val string) error {
	var err error
	switch key {
	case "v":
		r.V, err = strconv.Atoi(val)
	case "ts":
		r.Time, err = time.Parse(time.RFC3339Nano, val)
	case "qid":
		r.QID = val
	case "proto":
		r.Proto = val
	case "client":
		r.Client, err = netip.ParseAddr(val)
	case "client_port":
		var p uint64
		p, err = strconv.ParseUint(val, 10, 16)
		r.ClientPort = uint16(p)
	case "client_mac":
		r.ClientMAC = val
	case "client_host":
		r.ClientHost = val
	case "qname":
		r.QName = val
	case "qtype":
		r.QType = val
	case "rcode":
		r.Rcode = val
	case "source":
		r.Source = val
	case "upstream":
		r.Upstream = val
	case "latency_us":
		r.LatencyUS, err = strconv.ParseInt(val, 10, 64)
	case "block_list":
		r.BlockList = val
	case "block_rule":
		r.BlockRule = val
	case "error":
		r.Error = val
	case "rebind_address":
		r.RebindAddr = val
	case "name":
		r.Name = val
	case "type":
		r.Type = val
	case "data":
		r.Data = val
	case "ttl":
		var t uint64
		t, err = strconv.ParseUint(val, 10, 32)
		r.TTL = uint32(t)
	case "chain":
		r.Chain = strings.Split(val, ",")
	}
	return err
}

func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
