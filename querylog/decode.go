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
)

// ParseLine decodes one log line in either format; the format is detected
// from the first byte so that mixed or converted archives read the same.
func ParseLine(line []byte) (Record, error) {
	line = bytes.TrimSpace(line)
	var r Record
	if len(line) > 0 && line[0] == '{' {
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
		if err := setKV(r, key, val); err != nil {
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
