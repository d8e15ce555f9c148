package querylog

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dnsward/dnsward/answers"
	"github.com/miekg/dns"
)

var t0 = time.Date(2026, 11, 23, 9, 30, 0, 123456789, time.UTC)

// response builds a response to qname/qtype from zone-file lines.
func response(tb testing.TB, qname string, qtype uint16, rcode int, rrs ...string) *dns.Msg {
	tb.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(qname), qtype)
	m.Response = true
	m.Rcode = rcode
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		if err != nil {
			tb.Fatalf("NewRR(%q): %v", s, err)
		}
		m.Answer = append(m.Answer, rr)
	}
	return m
}

func entry(tb testing.TB, client, qname string, qtype uint16, rcode int, rrs ...string) Entry {
	return Entry{
		Time:     t0,
		Proto:    "udp",
		Client:   netip.MustParseAddrPort(client),
		Question: dns.Question{Name: dns.Fqdn(qname), Qtype: qtype, Qclass: dns.ClassINET},
		Response: response(tb, qname, qtype, rcode, rrs...),
		Source:   "upstream",
		Upstream: "9.9.9.9:53",
		Latency:  1234567 * time.Nanosecond,
	}
}

func TestRecords(t *testing.T) {
	base := Record{
		V: 1, Time: t0, QID: "q1", Proto: "udp",
		Client: netip.MustParseAddr("10.0.0.5"), ClientPort: 5353,
		Rcode: "NOERROR", Source: "upstream", Upstream: "9.9.9.9:53", LatencyUS: 1234,
	}
	with := func(mod func(*Record)) Record {
		r := base
		mod(&r)
		return r
	}
	servfail := entry(t, "10.0.0.5:5353", "broken.example", dns.TypeA, 0)
	servfail.Response, servfail.Rcode = nil, dns.RcodeServerFailure
	blocked := entry(t, "10.0.0.5:5353", "ads.example", dns.TypeA, 0, "ads.example. 10 IN A 0.0.0.0")
	blocked.Source, blocked.Upstream, blocked.BlockList, blocked.BlockRule = "blocked", "", "stevenblack", "||ads.example^"
	mapped := entry(t, "[::ffff:10.0.0.5]:5353", "example.com", dns.TypeA, 0, "example.com. 300 IN A 93.184.215.14")
	busy := servfail
	busy.Source, busy.Upstream, busy.Error = "busy", "", "too many queries waiting on upstreams"
	failed := servfail
	device := entry(t, "10.0.0.5:5353", "example.com", dns.TypeA, 0, "example.com. 300 IN A 93.184.215.14")
	device.Device = answers.Device{MAC: answers.MAC{0xaa, 0xbb, 0xcc, 0x0d, 0x0e, 0x0f}, Host: "Kitchen Laptop"}
	failed.Upstream, failed.Error = "", "all upstreams failed: udp://192.0.2.53:53: i/o timeout\nudp://192.0.2.54:53: connection refused"

	tests := []struct {
		name string
		e    Entry
		want []Record
	}{
		{"A", entry(t, "10.0.0.5:5353", "example.com", dns.TypeA, 0, "example.com. 300 IN A 93.184.215.14"), []Record{
			with(func(r *Record) {
				r.QName, r.QType, r.Name, r.Type, r.Data, r.TTL = "example.com", "A", "example.com", "A", "93.184.215.14", 300
				r.Chain = []string{"example.com"}
			}),
		}},
		{"AAAA", entry(t, "10.0.0.5:5353", "example.com", dns.TypeAAAA, 0, "example.com. 60 IN AAAA 2606:2800:21f:cb07:6820:80da:af6b:8b2c"), []Record{
			with(func(r *Record) {
				r.QName, r.QType, r.Name, r.Type, r.Data, r.TTL = "example.com", "AAAA", "example.com", "AAAA", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", 60
				r.Chain = []string{"example.com"}
			}),
		}},
		{"device", device, []Record{
			with(func(r *Record) {
				r.QName, r.QType, r.Name, r.Type, r.Data, r.TTL = "example.com", "A", "example.com", "A", "93.184.215.14", 300
				r.Chain = []string{"example.com"}
				r.ClientMAC, r.ClientHost = "aa:bb:cc:0d:0e:0f", "Kitchen Laptop"
			}),
		}},
		{"mapped client", mapped, []Record{
			with(func(r *Record) {
				r.QName, r.QType, r.Name, r.Type, r.Data, r.TTL = "example.com", "A", "example.com", "A", "93.184.215.14", 300
				r.Chain = []string{"example.com"}
			}),
		}},
		{"CNAME chain", entry(t, "10.0.0.5:5353", "www.shop.example", dns.TypeA, 0,
			"www.shop.example. 300 IN CNAME shop.cdn.example.",
			"shop.cdn.example. 60 IN CNAME edge7.cdn.example.",
			"edge7.cdn.example. 20 IN A 192.0.2.1",
			"edge7.cdn.example. 20 IN A 192.0.2.2"), []Record{
			with(func(r *Record) {
				r.QName, r.QType, r.Name, r.Type, r.Data, r.TTL = "www.shop.example", "A", "www.shop.example", "CNAME", "shop.cdn.example", 300
				r.Chain = []string{"www.shop.example"}
			}),
			with(func(r *Record) {
				r.QName, r.QType, r.Name, r.Type, r.Data, r.TTL = "www.shop.example", "A", "shop.cdn.example", "CNAME", "edge7.cdn.example", 60
				r.Chain = []string{"www.shop.example", "shop.cdn.example"}
			}),
			with(func(r *Record) {
				r.QName, r.QType, r.Name, r.Type, r.Data, r.TTL = "www.shop.example", "A", "edge7.cdn.example", "A", "192.0.2.1", 20
				r.Chain = []string{"www.shop.example", "shop.cdn.example", "edge7.cdn.example"}
			}),
			with(func(r *Record) {
				r.QName, r.QType, r.Name, r.Type, r.Data, r.TTL = "www.shop.example", "A", "edge7.cdn.example", "A", "192.0.2.2", 20
				r.Chain = []string{"www.shop.example", "shop.cdn.example", "edge7.cdn.example"}
			}),
		}},
		{"CNAME loop", entry(t, "10.0.0.5:5353", "a.example", dns.TypeA, 0,
			"a.example. 1 IN CNAME b.example.", "b.example. 1 IN CNAME a.example."), []Record{
			with(func(r *Record) {
				r.QName, r.QType, r.Name, r.Type, r.Data, r.TTL = "a.example", "A", "a.example", "CNAME", "b.example", 1
				r.Chain = []string{"a.example"}
			}),
			with(func(r *Record) {
				r.QName, r.QType, r.Name, r.Type, r.Data, r.TTL = "a.example", "A", "b.example", "CNAME", "a.example", 1
				r.Chain = []string{"a.example", "b.example"}
			}),
		}},
		{"NXDOMAIN", entry(t, "10.0.0.5:5353", "nope.example", dns.TypeA, dns.RcodeNameError), []Record{
			with(func(r *Record) { r.QName, r.QType, r.Rcode = "nope.example", "A", "NXDOMAIN" }),
		}},
		{"NODATA", entry(t, "10.0.0.5:5353", "example.com", dns.TypeMX, 0), []Record{
			with(func(r *Record) { r.QName, r.QType = "example.com", "MX" }),
		}},
		{"SERVFAIL without response", servfail, []Record{
			with(func(r *Record) { r.QName, r.QType, r.Rcode = "broken.example", "A", "SERVFAIL" }),
		}},
		{"shed", busy, []Record{
			with(func(r *Record) {
				r.QName, r.QType, r.Rcode, r.Source, r.Upstream = "broken.example", "A", "SERVFAIL", "busy", ""
				r.Error = "too many queries waiting on upstreams"
			}),
		}},
		{"every upstream failed", failed, []Record{
			with(func(r *Record) {
				r.QName, r.QType, r.Rcode, r.Upstream = "broken.example", "A", "SERVFAIL", ""
				r.Error = "all upstreams failed: udp://192.0.2.53:53: i/o timeout\nudp://192.0.2.54:53: connection refused"
			}),
		}},
		{"blocked", blocked, []Record{
			with(func(r *Record) {
				r.QName, r.QType, r.Name, r.Type, r.Data, r.TTL = "ads.example", "A", "ads.example", "A", "0.0.0.0", 10
				r.Source, r.Upstream, r.BlockList, r.BlockRule = "blocked", "", "stevenblack", "||ads.example^"
				r.Chain = []string{"ads.example"}
			}),
		}},
		{"TXT", entry(t, "10.0.0.5:5353", "example.com", dns.TypeTXT, 0, `example.com. 300 IN TXT "v=spf1 -all"`), []Record{
			with(func(r *Record) {
				r.QName, r.QType, r.Name, r.Type, r.Data, r.TTL = "example.com", "TXT", "example.com", "TXT", `"v=spf1 -all"`, 300
				r.Chain = []string{"example.com"}
			}),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Records("q1", tc.e)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Records:\n got %+v\nwant %+v", got, tc.want)
			}
			// Every record must survive both formats unchanged.
			for _, format := range []string{FormatJSON, FormatKV} {
				for i := range got {
					line := appendFormat(nil, format, &got[i])
					if n := strings.Count(string(line), "\n"); n != 1 || line[len(line)-1] != '\n' {
						t.Fatalf("%s: not one line: %q", format, line)
					}
					back, err := ParseLine(line)
					if err != nil {
						t.Fatalf("%s: ParseLine(%q): %v", format, line, err)
					}
					if !reflect.DeepEqual(back, got[i]) {
						t.Errorf("%s round trip of %q:\n got %+v\nwant %+v", format, line, back, got[i])
					}
				}
			}
		})
	}
}

func TestEncodeGolden(t *testing.T) {
	e := entry(t, "10.0.0.5:51334", "www.shop.example", dns.TypeA, 0,
		"www.shop.example. 300 IN CNAME shop.cdn.example.",
		"shop.cdn.example. 20 IN A 192.0.2.1")
	r := Records("5f1c0a9b3e2d-1a", e)[1]
	e.Device = answers.Device{MAC: answers.MAC{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}, Host: "laptop"}
	dev := Records("5f1c0a9b3e2d-1a", e)[1]
	if got, want := string(appendJSON(nil, &dev)), `"client_port":51334,"client_mac":"aa:bb:cc:dd:ee:ff","client_host":"laptop","qname"`; !strings.Contains(got, want) {
		t.Errorf("json with a device:\n got %s\nwant it to hold %s", got, want)
	}
	if got, want := string(appendKV(nil, &dev)), ` client_port=51334 client_mac=aa:bb:cc:dd:ee:ff client_host=laptop qname=`; !strings.Contains(got, want) {
		t.Errorf("kv with a device:\n got %s\nwant it to hold %s", got, want)
	}
	tests := []struct{ format, want string }{
		{FormatJSON, `{"v":1,"ts":"2026-11-23T09:30:00.123456789Z","qid":"5f1c0a9b3e2d-1a","proto":"udp","client":"10.0.0.5","client_port":51334,"qname":"www.shop.example","qtype":"A","rcode":"NOERROR","source":"upstream","upstream":"9.9.9.9:53","latency_us":1234,"name":"shop.cdn.example","type":"A","data":"192.0.2.1","ttl":20,"chain":["www.shop.example","shop.cdn.example"]}` + "\n"},
		{FormatKV, `ts=2026-11-23T09:30:00.123456789Z v=1 qid=5f1c0a9b3e2d-1a proto=udp client=10.0.0.5 client_port=51334 qname=www.shop.example qtype=A rcode=NOERROR source=upstream upstream=9.9.9.9:53 latency_us=1234 name=shop.cdn.example type=A data=192.0.2.1 ttl=20 chain=www.shop.example,shop.cdn.example` + "\n"},
	}
	for _, tc := range tests {
		if got := string(appendFormat(nil, tc.format, &r)); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.format, got, tc.want)
		}
	}
}

func TestKVQuoting(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Record)
		want string // substring of the kv line
	}{
		{"spaces and quotes", func(r *Record) { r.Type, r.Data = "TXT", `"v=spf1 -all"` }, ` data="\"v=spf1 -all\""`},
		{"empty qname", func(r *Record) { r.QName = "" }, ` qname="" `},
		{"equals", func(r *Record) { r.BlockRule = "a=b" }, ` block_rule="a=b"`},
		{"backslash escape", func(r *Record) { r.QName = `we\032ird.example` }, ` qname="we\\032ird.example"`},
		{"control byte", func(r *Record) { r.QName = "a\nb" }, ` qname="a\nb"`},
		{"non-ASCII", func(r *Record) { r.BlockList = "liste é" }, ` block_list="liste é"`},
		{"chain with odd name", func(r *Record) { r.Type, r.Chain = "A", []string{"a b", "c"} }, ` chain="a b,c"`},
		{"plain", func(r *Record) { r.QName = "example.com" }, ` qname=example.com `},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Record{V: 1, Time: t0, QID: "q", Proto: "udp", Client: netip.MustParseAddr("10.0.0.5"), QName: "x", QType: "A", Rcode: "NOERROR", Source: "cache"}
			tc.mod(&r)
			line := appendKV(nil, &r)
			if !strings.Contains(string(line), tc.want) {
				t.Fatalf("kv line %q lacks %q", line, tc.want)
			}
			back, err := ParseLine(line)
			if err != nil {
				t.Fatalf("ParseLine(%q): %v", line, err)
			}
			if !reflect.DeepEqual(back, r) {
				t.Errorf("round trip:\n got %+v\nwant %+v", back, r)
			}
			js := appendJSON(nil, &r)
			if back, err = ParseLine(js); err != nil || !reflect.DeepEqual(back, r) {
				t.Errorf("json round trip of %q: %+v, %v", js, back, err)
			}
		})
	}
}

func TestJSONInvalidUTF8(t *testing.T) {
	r := Record{V: 1, Time: t0, QName: "bad\xffname", Client: netip.MustParseAddr("10.0.0.5")}
	back, err := ParseLine(appendJSON(nil, &r))
	if err != nil {
		t.Fatal(err)
	}
	if back.QName != "bad\ufffdname" {
		t.Errorf("qname = %q", back.QName)
	}
}

func BenchmarkEncode(b *testing.B) {
	e := entry(b, "10.0.0.5:51334", "www.shop.example", dns.TypeA, 0,
		"www.shop.example. 300 IN CNAME shop.cdn.example.",
		"shop.cdn.example. 20 IN A 192.0.2.1")
	for _, format := range []string{FormatJSON, FormatKV} {
		b.Run(format, func(b *testing.B) {
			var recs []Record
			var sc scratch
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				recs = appendRecords(recs[:0], &sc, "5f1c0a9b3e2d-1a", e)
				buf = buf[:0]
				for i := range recs {
					buf = appendFormat(buf, format, &recs[i])
				}
			}
		})
	}
}

// TestEncodeAllocatesNothing: once its buffers have grown, the dispatcher
// encodes an entry, CNAME chain and addresses included, without
// allocating, in either format: the query log's share of a cache hit's
// garbage is nothing.
func TestEncodeAllocatesNothing(t *testing.T) {
	e := entry(t, "10.0.0.5:51334", "www.shop.example", dns.TypeA, 0,
		"www.shop.example. 300 IN CNAME shop.cdn.example.",
		"shop.cdn.example. 20 IN A 192.0.2.1",
		"shop.cdn.example. 20 IN AAAA 2001:db8::1")
	for _, format := range []string{FormatJSON, FormatKV} {
		var recs []Record
		var sc scratch
		var buf []byte
		encode := func() {
			recs = appendRecords(recs[:0], &sc, "5f1c0a9b3e2d-1a", e)
			buf = buf[:0]
			for i := range recs {
				buf = appendFormat(buf, format, &recs[i])
			}
		}
		encode()
		want := string(buf)
		if allocs := testing.AllocsPerRun(100, encode); allocs != 0 {
			t.Errorf("%s: %v allocations per entry, want 0", format, allocs)
		}
		if string(buf) != want {
			t.Errorf("%s: a reused scratch changed the encoding:\n%s\nwant\n%s", format, buf, want)
		}
		if !strings.Contains(want, "192.0.2.1") || !strings.Contains(want, "2001:db8::1") {
			t.Errorf("%s: addresses missing:\n%s", format, want)
		}
	}
}

// TestAppendTS: the hand-written timestamp is byte for byte what
// AppendFormat writes, in both precisions, for times in and out of UTC,
// at the edges of a second and of the years it handles itself.
func TestAppendTS(t *testing.T) {
	east := time.FixedZone("east", 5*3600+1800)
	times := []time.Time{
		time.Date(2026, 12, 2, 8, 30, 0, 0, time.UTC),
		time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 1, east),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 123456789, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 5, time.UTC),
		time.Date(-1, 6, 1, 12, 0, 0, 0, time.UTC),
		{},
	}
	for i := range 1000 {
		times = append(times, time.Unix(int64(i)*7919*86413, int64(i)*999983%1e9))
	}
	for _, tm := range times {
		for frac, layout := range map[int]string{9: tsLayout, 6: "2006-01-02T15:04:05.000000Z07:00"} {
			want := tm.UTC().Format(layout)
			if got := string(appendTS([]byte("x"), tm, frac)); got != "x"+want {
				t.Errorf("appendTS(%v, %d) = %q, want %q", tm, frac, got[1:], want)
			}
		}
	}
}
