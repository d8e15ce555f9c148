package querylog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// FlowVersion is the schema version written in every flow record's v
// field; it moves independently of the DNS records' Version.
const FlowVersion = 1

// KindFlow is the kind field of flow records; DNS records have none.
const KindFlow = "flow"

// ErrMalformed is wrapped by the error of a scan (Export, Who, ScanFlows)
// that read everything but skipped malformed lines, so that a caller can
// still show what it read.
var ErrMalformed = errors.New("malformed lines skipped")

// FlowRecord is one connection or firewall-logged packet from a LAN client,
// joined to the lookups behind its destination. It is querylog's own plain
// form of a flows.Flow, so that the log does not depend on the flow
// sources; the enumerations are their record names.
type FlowRecord struct {
	V           int        `json:"v"`
	Kind        string     `json:"kind"` // always KindFlow
	Time        time.Time  `json:"ts"`
	Client      netip.Addr `json:"client"`
	ClientPort  uint16     `json:"client_port"`
	Dest        netip.Addr `json:"dest"`
	DestPort    uint16     `json:"dest_port"`
	Proto       string     `json:"proto"`            // tcp, udp, icmp, other
	Verdict     string     `json:"verdict"`          // new, dropped, logged
	Prefix      string     `json:"prefix,omitempty"` // the nflog or log prefix
	Attribution string     `json:"attribution"`      // same_client, other_client, no_lookup
	Names       []FlowName `json:"names,omitempty"`
	Repeats     int        `json:"repeats,omitempty"` // flows folded into this summary record
}

// FlowName is an answer that gave a client the flow's destination.
type FlowName struct {
	Name string `json:"name"`
	// Client is the other client that asked, with attribution
	// other_client; invalid (and not written) for same_client.
	Client     netip.Addr `json:"client,omitzero"`
	Chain      []string   `json:"chain,omitempty"` // CNAME chain, without Name
	FirstAsked time.Time  `json:"first_asked"`
	LastAsked  time.Time  `json:"last_asked"`
	ValidUntil time.Time  `json:"valid_until"`
}

// LogFlow queues a flow record like Log: through the same queue, encoder
// and sinks (file, syslog, HEC, with their spools), never blocking, and
// counted as dropped when the queue is full. dnstap sinks skip it: dnstap
// has no message type for a flow.
func (l *Logger) LogFlow(f FlowRecord) {
	if l.entries == nil {
		return // no sink; spares the allocation
	}
	f.V, f.Kind = FlowVersion, KindFlow
	l.Log(Entry{flow: &f})
}

// addFlow encodes a flow record queued by LogFlow into b.
func (b *batch) addFlow(l *Logger, f *FlowRecord) {
	if l.file != nil {
		b.file = appendFlowFormat(b.file, l.format, f)
	}
	for i, format := range [...]string{FormatJSON, FormatKV} {
		if l.needFmt[i] {
			b.spool[i] = strconv.AppendInt(b.spool[i], f.Time.UnixNano(), 10)
			b.spool[i] = appendFlowFormat(append(b.spool[i], ' '), format, f)
		}
	}
	b.entries++
	b.records++
	b.lines[0], b.lines[1] = b.records, b.records
}

// appendFlowFormat appends f as one line (with its newline) in format.
func appendFlowFormat(b []byte, format string, f *FlowRecord) []byte {
	if format == FormatKV {
		return appendFlowKV(b, f)
	}
	return appendFlowJSON(b, f)
}

// appendFlowJSON appends f as one JSON line, in the documented order.
func appendFlowJSON(b []byte, f *FlowRecord) []byte {
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(f.V), 10)
	b = append(b, `,"kind":"flow","ts":"`...)
	b = appendTS(b, f.Time, 9)
	b = append(b, `","client":"`...)
	b = f.Client.AppendTo(b)
	b = append(b, `","client_port":`...)
	b = strconv.AppendUint(b, uint64(f.ClientPort), 10)
	b = append(b, `,"dest":"`...)
	b = f.Dest.AppendTo(b)
	b = append(b, `","dest_port":`...)
	b = strconv.AppendUint(b, uint64(f.DestPort), 10)
	b = append(b, `,"proto":`...)
	b = appendJSONString(b, f.Proto)
	b = append(b, `,"verdict":`...)
	b = appendJSONString(b, f.Verdict)
	if f.Prefix != "" {
		b = append(b, `,"prefix":`...)
		b = appendJSONString(b, f.Prefix)
	}
	b = append(b, `,"attribution":`...)
	b = appendJSONString(b, f.Attribution)
	if len(f.Names) > 0 {
		b = append(b, `,"names":[`...)
		for i := range f.Names {
			n := &f.Names[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = appendJSONString(b, n.Name)
			if n.Client.IsValid() {
				b = append(b, `,"client":"`...)
				b = n.Client.AppendTo(b)
				b = append(b, '"')
			}
			if len(n.Chain) > 0 {
				b = append(b, `,"chain":[`...)
				for j, c := range n.Chain {
					if j > 0 {
						b = append(b, ',')
					}
					b = appendJSONString(b, c)
				}
				b = append(b, ']')
			}
			b = append(b, `,"first_asked":"`...)
			b = appendTS(b, n.FirstAsked, 9)
			b = append(b, `","last_asked":"`...)
			b = appendTS(b, n.LastAsked, 9)
			b = append(b, `","valid_until":"`...)
			b = appendTS(b, n.ValidUntil, 9)
			b = append(b, `"}`...)
		}
		b = append(b, ']')
	}
	if f.Repeats > 0 {
		b = append(b, `,"repeats":`...)
		b = strconv.AppendInt(b, int64(f.Repeats), 10)
	}
	return append(b, "}\n"...)
}

// appendFlowKV appends f as one key=value line. The names are numbered
// (name1, name1_client, name1_chain, ...) so that each stays one value per
// key and a collector can pick the first without parsing.
func appendFlowKV(b []byte, f *FlowRecord) []byte {
	b = append(b, "ts="...)
	b = appendTS(b, f.Time, 9)
	b = append(b, " v="...)
	b = strconv.AppendInt(b, int64(f.V), 10)
	b = append(b, " kind=flow client="...)
	b = f.Client.AppendTo(b)
	b = append(b, " client_port="...)
	b = strconv.AppendUint(b, uint64(f.ClientPort), 10)
	b = append(b, " dest="...)
	b = f.Dest.AppendTo(b)
	b = append(b, " dest_port="...)
	b = strconv.AppendUint(b, uint64(f.DestPort), 10)
	b = appendKVField(b, "proto", f.Proto)
	b = appendKVField(b, "verdict", f.Verdict)
	if f.Prefix != "" {
		b = appendKVField(b, "prefix", f.Prefix)
	}
	b = appendKVField(b, "attribution", f.Attribution)
	for i := range f.Names {
		n := &f.Names[i]
		key := "name" + strconv.Itoa(i+1)
		b = appendKVField(b, key, n.Name)
		if n.Client.IsValid() {
			b = append(b, ' ')
			b = append(b, key...)
			b = append(b, "_client="...)
			b = n.Client.AppendTo(b)
		}
		if len(n.Chain) > 0 {
			b = appendKVField(b, key+"_chain", strings.Join(n.Chain, ","))
		}
		// A timestamp never needs quoting, so it is written in place.
		for _, at := range [...]struct {
			suffix string
			t      time.Time
		}{{"_first_asked=", n.FirstAsked}, {"_last_asked=", n.LastAsked}, {"_valid_until=", n.ValidUntil}} {
			b = append(b, ' ')
			b = append(b, key...)
			b = append(b, at.suffix...)
			b = appendTS(b, at.t, 9)
		}
	}
	if f.Repeats > 0 {
		b = append(b, " repeats="...)
		b = strconv.AppendInt(b, int64(f.Repeats), 10)
	}
	return append(b, '\n')
}

// lineKind is a line's kind field, "" for a DNS record. It looks only
// where the encoders put kind (right after v), so scanning DNS records
// costs a prefix comparison, not a decode.
func lineKind(line []byte) string {
	line = bytes.TrimSpace(line)
	key, end := []byte(" kind="), byte(' ')
	if len(line) > 0 && line[0] == '{' {
		key, end = []byte(`,"kind":"`), '"'
	}
	i := bytes.Index(line[:min(len(line), 64)], key)
	if i < 0 {
		return ""
	}
	rest := line[i+len(key):]
	if j := bytes.IndexByte(rest, end); j >= 0 {
		rest = rest[:j]
	}
	return string(rest)
}

// ParseFlowLine decodes a flow record in either format. A line of another
// kind, a DNS record included, is an error.
func ParseFlowLine(line []byte) (FlowRecord, error) {
	line = bytes.TrimSpace(line)
	var f FlowRecord
	if len(line) > 0 && line[0] == '{' {
		if err := json.Unmarshal(line, &f); err != nil {
			return FlowRecord{}, fmt.Errorf("querylog: json flow record: %w", err)
		}
	} else if err := splitKV(string(line), func(key, val string) error { return setFlowKV(&f, key, val) }); err != nil {
		return FlowRecord{}, fmt.Errorf("querylog: kv flow record: %w", err)
	}
	if f.Kind != KindFlow {
		return FlowRecord{}, fmt.Errorf("querylog: kind %q, not a flow record", f.Kind)
	}
	return f, nil
}

// setFlowKV sets one key of a kv flow record; unknown keys are ignored so
// that older readers accept newer logs.
func setFlowKV(f *FlowRecord, key, val string) error {
	var err error
	switch key {
	case "v":
		f.V, err = strconv.Atoi(val)
	case "kind":
		f.Kind = val
	case "ts":
		f.Time, err = time.Parse(time.RFC3339Nano, val)
	case "client":
		f.Client, err = netip.ParseAddr(val)
	case "client_port":
		f.ClientPort, err = parsePort(val)
	case "dest":
		f.Dest, err = netip.ParseAddr(val)
	case "dest_port":
		f.DestPort, err = parsePort(val)
	case "proto":
		f.Proto = val
	case "verdict":
		f.Verdict = val
	case "prefix":
		f.Prefix = val
	case "attribution":
		f.Attribution = val
	case "repeats":
		f.Repeats, err = strconv.Atoi(val)
	default:
		if rest, ok := strings.CutPrefix(key, "name"); ok {
			return setFlowNameKV(f, rest, val)
		}
	}
	return err
}

// maxFlowNames bounds the names a kv line may number, so that a hostile
// "name99999999=" cannot make the reader allocate a huge slice.
const maxFlowNames = 1024

// setFlowNameKV sets key nameN[_field] of a kv flow record; rest is the
// key after "name".
func setFlowNameKV(f *FlowRecord, rest, val string) error {
	num, field, _ := strings.Cut(rest, "_")
	i, err := strconv.Atoi(num)
	if err != nil || i < 1 || i > maxFlowNames {
		return nil // not a numbered name key: ignored like any unknown key
	}
	for len(f.Names) < i {
		f.Names = append(f.Names, FlowName{})
	}
	n := &f.Names[i-1]
	switch field {
	case "":
		n.Name = val
	case "client":
		n.Client, err = netip.ParseAddr(val)
	case "chain":
		n.Chain = strings.Split(val, ",")
	case "first_asked":
		n.FirstAsked, err = time.Parse(time.RFC3339Nano, val)
	case "last_asked":
		n.LastAsked, err = time.Parse(time.RFC3339Nano, val)
	case "valid_until":
		n.ValidUntil, err = time.Parse(time.RFC3339Nano, val)
	}
	return err
}

func parsePort(val string) (uint16, error) {
	p, err := strconv.ParseUint(val, 10, 16)
	return uint16(p), err
}

// ScanFlows calls fn for every flow record of files (json or kv, plain or
// gzipped, in the order given), skipping the DNS records. It stops at the
// first error from fn, ctx or a file, and otherwise reports malformed
// flow lines once all files are read.
func ScanFlows(ctx context.Context, files []string, fn func(*FlowRecord) error) error {
	return scanLines(ctx, files, func(line []byte) (bool, error) {
		if lineKind(line) != KindFlow {
			return true, nil
		}
		f, err := ParseFlowLine(line)
		if err != nil {
			return false, nil
		}
		return true, fn(&f)
	})
}
