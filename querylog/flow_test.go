package querylog

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	flowT0     = time.Date(2026, 11, 23, 9, 30, 0, 123456789, time.UTC)
	flowClient = netip.MustParseAddr("10.0.0.5")
)

// flowRecords are one of each attribution, with the optional fields set.
func flowRecords() []FlowRecord {
	name := func(n string, client netip.Addr, chain ...string) FlowName {
		return FlowName{Name: n, Client: client, Chain: chain, FirstAsked: flowT0.Add(-time.Hour), LastAsked: flowT0.Add(-time.Minute), ValidUntil: flowT0.Add(4 * time.Minute)}
	}
	return []FlowRecord{
		{V: FlowVersion, Kind: KindFlow, Time: flowT0, Client: flowClient, ClientPort: 51334, Dest: netip.MustParseAddr("192.0.2.1"), DestPort: 443,
			Proto: "tcp", Verdict: "new", Attribution: "same_client",
			Names: []FlowName{name("www.shop.example", netip.Addr{}, "shop.cdn.example"), name("img.shop.example", netip.Addr{})}},
		{V: FlowVersion, Kind: KindFlow, Time: flowT0.Add(time.Second), Client: flowClient, ClientPort: 40000, Dest: netip.MustParseAddr("2001:db8::25"), DestPort: 25,
			Proto: "tcp", Verdict: "dropped", Prefix: "egress drop: ", Attribution: "other_client",
			Names: []FlowName{name("mx.mail.example", netip.MustParseAddr("10.0.0.9"))}, Repeats: 29},
		{V: FlowVersion, Kind: KindFlow, Time: flowT0.Add(2 * time.Second), Client: netip.MustParseAddr("10.0.0.7"), ClientPort: 0, Dest: netip.MustParseAddr("198.51.100.7"),
			Proto: "icmp", Verdict: "logged", Prefix: "log", Attribution: "no_lookup"},
	}
}

func TestFlowRecordRoundTrip(t *testing.T) {
	for _, format := range []string{FormatJSON, FormatKV} {
		for i, want := range flowRecords() {
			line := appendFlowFormat(nil, format, &want)
			if lineKind(line) != KindFlow {
				t.Errorf("%s %d: lineKind(%s) = %q", format, i, line, lineKind(line))
			}
			got, err := ParseFlowLine(line)
			if err != nil {
				t.Fatalf("%s %d: %v\n%s", format, i, err, line)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s %d: round trip of\n%s got  %+v\nwant %+v", format, i, line, got, want)
			}
		}
	}
}

// TestFlowRecordLines pins the documented lines (querylog/doc.go).
func TestFlowRecordLines(t *testing.T) {
	recs := flowRecords()
	for _, tt := range []struct {
		format string
		rec    FlowRecord
		want   string
	}{
		{FormatJSON, recs[1], `{"v":1,"kind":"flow","ts":"2026-11-23T09:30:01.123456789Z","client":"10.0.0.5","client_port":40000,"dest":"2001:db8::25","dest_port":25,"proto":"tcp","verdict":"dropped","prefix":"egress drop: ","attribution":"other_client","names":[{"name":"mx.mail.example","client":"10.0.0.9","first_asked":"2026-11-23T08:30:00.123456789Z","last_asked":"2026-11-23T09:29:00.123456789Z","valid_until":"2026-11-23T09:34:00.123456789Z"}],"repeats":29}`},
		{FormatKV, recs[0], `ts=2026-11-23T09:30:00.123456789Z v=1 kind=flow client=10.0.0.5 client_port=51334 dest=192.0.2.1 dest_port=443 proto=tcp verdict=new attribution=same_client name1=www.shop.example name1_chain=shop.cdn.example name1_first_asked=2026-11-23T08:30:00.123456789Z name1_last_asked=2026-11-23T09:29:00.123456789Z name1_valid_until=2026-11-23T09:34:00.123456789Z name2=img.shop.example name2_first_asked=2026-11-23T08:30:00.123456789Z name2_last_asked=2026-11-23T09:29:00.123456789Z name2_valid_until=2026-11-23T09:34:00.123456789Z`},
		{FormatKV, recs[2], `ts=2026-11-23T09:30:02.123456789Z v=1 kind=flow client=10.0.0.7 client_port=0 dest=198.51.100.7 dest_port=0 proto=icmp verdict=logged prefix=log attribution=no_lookup`},
	} {
		if got := string(appendFlowFormat(nil, tt.format, &tt.rec)); got != tt.want+"\n" {
			t.Errorf("%s:\ngot  %s\nwant %s", tt.format, got, tt.want)
		}
	}
}

func TestParseFlowLineErrors(t *testing.T) {
	for _, tt := range []struct{ line, want string }{
		{`{"v":1,"ts":"2026-11-23T09:30:00Z","qid":"a-1","proto":"udp","client":"10.0.0.5"}`, `kind "", not a flow record`},
		{`ts=2026-11-23T09:30:00Z v=1 qid=a-1 proto=udp client=10.0.0.5`, `kind "", not a flow record`},
		{`ts=2026-11-23T09:30:00Z v=1 kind=flow client=10.0.0.5 dest_port=99999`, `dest_port`},
		{`ts=2026-11-23T09:30:00Z v=1 kind=flow name1_first_asked=yesterday`, `name1_first_asked`},
		{`{"v":1,"kind":"flow","dest":"nope"}`, `json flow record`},
	} {
		if _, err := ParseFlowLine([]byte(tt.line)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseFlowLine(%s) = %v, want an error with %q", tt.line, err, tt.want)
		}
	}
}

// TestScanSeparatesKinds reads logs holding both kinds, in both formats,
// plain and gzipped: Export sees the DNS records only, ScanFlows the
// flow records only.
func TestScanSeparatesKinds(t *testing.T) {
	dir := t.TempDir()
	var plain, zipped bytes.Buffer
	flows := flowRecords()
	for i, format := range []string{FormatJSON, FormatKV} {
		out := &plain
		if i == 1 {
			out = &bytes.Buffer{}
		}
		for j := range 3 {
			for _, r := range Records("q-"+format, seqEntry(j)) {
				out.Write(appendFormat(nil, format, &r))
			}
			out.Write(appendFlowFormat(nil, format, &flows[j]))
		}
		if i == 1 {
			zw := gzip.NewWriter(&zipped)
			zw.Write(out.Bytes())
			zw.Close()
		}
	}
	files := []string{filepath.Join(dir, "q.log.1.gz"), filepath.Join(dir, "q.log")}
	for name, b := range map[string][]byte{files[0]: zipped.Bytes(), files[1]: plain.Bytes()} {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var got []FlowRecord
	if err := ScanFlows(context.Background(), files, func(f *FlowRecord) error { got = append(got, *f); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := append(flowRecords(), flowRecords()...); !reflect.DeepEqual(got, want) {
		t.Errorf("ScanFlows got %d records %+v\nwant %+v", len(got), got, want)
	}
	var exported bytes.Buffer
	if err := Export(context.Background(), &exported, files, Filter{}, FormatJSON); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(exported.String(), "\n"); n != 6 || strings.Contains(exported.String(), `"qname":""`) {
		t.Errorf("Export wrote %d lines, want the 6 DNS records only:\n%s", n, exported.String())
	}
}

// TestLogFlowThroughSinks logs flows among DNS entries: the file, a kv
// syslog collector and HEC get every record, in order; the dnstap sink
// gets the DNS messages only.
func TestLogFlowThroughSinks(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "q.log")
	sl := newSyslogReceiver(t, "tcp", nil)
	hec := newHECReceiver(t)
	cfg := Config{SpoolDir: t.TempDir(), File: file, Format: FormatKV,
		Syslog: []SyslogConfig{syslogSink("tcp", sl.addr, "")},
		HEC:    []HECConfig{hecSink(hec.addr)},
		Dnstap: []DnstapConfig{{Network: "file", Address: filepath.Join(t.TempDir(), "tap.fstrm")}}}
	l, stop := start(t, cfg, testLog(t))
	flows := flowRecords()
	for i := range flows {
		l.Log(tapEntry(i))
		f := flows[i]
		f.V, f.Kind = 0, "" // LogFlow sets them
		l.LogFlow(f)
	}
	n := 2 * len(flows)
	for _, r := range []receiver{sl, hec} {
		waitFor(t, "collector delivery", func() bool { return len(r.received()) >= n })
	}
	waitFor(t, "dnstap delivery", func() bool { return l.Stats().Sinks[3].Written >= uint64(2*len(flows)) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	if st.Sinks[0].Written != uint64(n) || st.Sinks[3].Written != uint64(2*len(flows)) {
		t.Errorf("stats %+v: want %d file records and %d dnstap messages", st.Sinks, n, 2*len(flows))
	}
	var got []FlowRecord
	if err := ScanFlows(context.Background(), []string{file}, func(f *FlowRecord) error { got = append(got, *f); return nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, flows) {
		t.Errorf("file flows %+v\nwant %+v", got, flows)
	}
	// The receivers decode DNS records; a flow record shows there as one
	// without a qname, carrying the flow's client and port.
	for name, r := range map[string]receiver{"syslog": sl, "hec": hec} {
		recs := r.received()
		for i := range flows {
			if f, rec := flows[i], recs[2*i+1]; rec.QName != "" || rec.Client != f.Client || rec.ClientPort != f.ClientPort || !rec.Time.Equal(f.Time) {
				t.Errorf("%s record %d = %+v, want flow %+v", name, 2*i+1, rec, f)
			}
			if recs[2*i].QName == "" {
				t.Errorf("%s record %d = %+v, want a DNS record", name, 2*i, recs[2*i])
			}
		}
	}
}
