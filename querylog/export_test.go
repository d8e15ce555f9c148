package querylog

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dnsward/dnsward/answers"
)

// writeLog writes the records of sharedEntry(g, i) for the given g, in
// format, gzipped if asked; trailer is appended raw.
func writeLog(t *testing.T, path, format string, gz bool, gs []int, trailer string) {
	var buf bytes.Buffer
	for _, g := range gs {
		for i := range 10 {
			recs := Records("qid-"+sharedTime(g, i).Format(time.StampMicro), sharedEntry(g, i))
			for j := range recs {
				buf.Write(appendFormat(nil, format, &recs[j]))
			}
		}
	}
	buf.WriteString(trailer)
	data := buf.Bytes()
	if gz {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(data)
		zw.Close()
		data = z.Bytes()
	}
	if err := os.WriteFile(path, data, 0o640); err != nil {
		t.Fatal(err)
	}
}

func TestExport(t *testing.T) {
	dir := t.TempDir()
	rotated, live := filepath.Join(dir, "q.log.1.gz"), filepath.Join(dir, "q.log")
	writeLog(t, rotated, FormatJSON, true, []int{0, 1}, "")
	writeLog(t, live, FormatKV, false, []int{2}, "")
	files := []string{rotated, live}

	tests := []struct {
		name   string
		f      Filter
		want   int // records
		qnames []string
	}{
		{"all", Filter{}, 120, nil},
		{"domain", Filter{Domain: "h1-3.example"}, 4, []string{"h1-3.example"}},
		{"domain case and dot", Filter{Domain: "EXAMPLE."}, 120, nil},
		{"domain is a suffix of qname only", Filter{Domain: "cdn.example"}, 0, nil},
		{"domain at label boundary", Filter{Domain: "1-3.example"}, 0, nil},
		{"client", Filter{Client: ClientMatch{Prefix: netip.MustParsePrefix("10.0.1.0/24")}}, 40, nil},
		{"client host", Filter{Client: ClientMatch{Prefix: netip.MustParsePrefix("10.0.2.3/32")}}, 4, []string{"h2-2.example"}},
		{"time window", Filter{Since: sharedTime(1, 0), Until: sharedTime(2, 5)}, 60, nil},
		{"all conditions", Filter{Since: sharedTime(2, 0), Client: ClientMatch{Prefix: netip.MustParsePrefix("10.0.2.0/24")}, Domain: "h2-9.example"}, 4, []string{"h2-9.example"}},
	}
	for _, tc := range tests {
		for _, format := range []string{FormatJSON, FormatKV} {
			t.Run(tc.name+"/"+format, func(t *testing.T) {
				var out bytes.Buffer
				if err := Export(context.Background(), &out, files, tc.f, format); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(t.TempDir(), "out")
				os.WriteFile(path, out.Bytes(), 0o600)
				recs := readRecords(t, path)
				if len(recs) != tc.want {
					t.Fatalf("%d records, want %d", len(recs), tc.want)
				}
				names := map[string]bool{}
				for _, r := range recs {
					if !tc.f.Match(&r) {
						t.Errorf("record %+v does not match", r)
					}
					names[r.QName] = true
				}
				for _, q := range tc.qnames {
					if !names[q] || len(names) != len(tc.qnames) {
						t.Errorf("qnames %v, want %v", names, tc.qnames)
					}
				}
				if format == FormatKV && tc.want > 0 && !strings.HasPrefix(out.String(), "ts=") {
					t.Errorf("not kv: %.80s", out.String())
				}
			})
		}
	}
}

func TestExportErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "q.log")
	writeLog(t, path, FormatJSON, false, []int{0}, "{\"v\":1,\"ts\":\ntorn line\n")
	var out bytes.Buffer
	err := Export(context.Background(), &out, []string{path}, Filter{}, FormatJSON)
	if err == nil || !strings.Contains(err.Error(), "2 malformed lines skipped, first at "+path+":41") {
		t.Errorf("err = %v", err)
	}
	if n := strings.Count(out.String(), "\n"); n != 40 {
		t.Errorf("%d good lines exported, want 40", n)
	}
	if err := Export(context.Background(), &out, []string{path}, Filter{}, "xml"); err == nil {
		t.Error("unknown format accepted")
	}
	if err := Export(context.Background(), &out, []string{filepath.Join(dir, "missing")}, Filter{}, ""); err == nil {
		t.Error("missing file accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Export(ctx, &out, []string{path}, Filter{}, ""); err == nil {
		t.Error("cancelled export returned no error")
	}
}

func TestWho(t *testing.T) {
	dir := t.TempDir()
	rotated, live := filepath.Join(dir, "q.log.1.gz"), filepath.Join(dir, "q.log")
	writeLog(t, rotated, FormatJSON, true, []int{0, 1}, "")
	writeLog(t, live, FormatKV, false, []int{2, 3}, "")
	files := []string{rotated, live}

	tests := []struct {
		ip       string
		rows     int
		contains []string
	}{
		// 192.0.2.1 is every query's answer.
		{"192.0.2.1", 40, []string{"10.0.0.1", "h0-0.example", "10.0.3.10", "h3-9.example", "h0-0.example > shared.cdn.example > edge.cdn.example"}},
		// 192.0.2.2 only for g%3 == 0: g=0 in the rotated file, g=3 in the live one.
		{"192.0.2.2", 20, []string{"h0-5.example", "h3-5.example"}},
		{"::ffff:192.0.2.4", 10, []string{"h2-0.example"}},
		{"198.51.100.1", 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.ip, func(t *testing.T) {
			var out bytes.Buffer
			if err := Who(context.Background(), &out, files, WhoQuery{IP: netip.MustParseAddr(tc.ip)}); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if !strings.HasPrefix(lines[0], "FIRST") || len(lines)-1 != tc.rows {
				t.Fatalf("%d rows, want %d:\n%s", len(lines)-1, tc.rows, out.String())
			}
			for _, s := range tc.contains {
				if !strings.Contains(out.String(), s) {
					t.Errorf("output lacks %q:\n%s", s, out.String())
				}
			}
			// Rows come oldest first, and each names its client and time.
			if tc.rows > 0 && !strings.Contains(lines[1], sharedTime(0, 0).Format(whoTime)) && !strings.Contains(lines[1], sharedTime(2, 0).Format(whoTime)) {
				t.Errorf("first row %q is not the oldest", lines[1])
			}
		})
	}
}

// writeRecords writes recs to path, one line each in format.
func writeRecords(t *testing.T, path, format string, recs []Record) {
	t.Helper()
	var b []byte
	for i := range recs {
		b = appendFormat(b, format, &recs[i])
	}
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

// answerAt is an A answer of addr for qname given to client at t0+sec.
func answerAt(client, mac, host, qname, addr string, sec int, ttl uint32) Record {
	return Record{V: 1, Time: t0.Add(time.Duration(sec) * time.Second), QID: "q", Proto: "udp",
		Client: netip.MustParseAddr(client), ClientMAC: mac, ClientHost: host, QName: qname, QType: "A",
		Rcode: "NOERROR", Source: "upstream", Name: qname, Type: "A", Data: addr, TTL: ttl, Chain: []string{qname}}
}

// Who says until when each answer was valid (the last answer's time, its
// TTL and the grace), keeps devices apart, and with At keeps only the rows
// valid then.
func TestWhoValidity(t *testing.T) {
	const laptop, phone = "aa:bb:cc:dd:ee:01", "aa:bb:cc:dd:ee:02"
	recs := []Record{
		answerAt("10.0.0.23", laptop, "Laptop", "shop.example", "192.0.2.7", 0, 300),
		answerAt("10.0.0.23", laptop, "Laptop", "shop.example", "192.0.2.7", 100, 60), // last: valid until 100+60+grace
		// DHCP moved 10.0.0.23 to the phone.
		answerAt("10.0.0.23", phone, "phone", "cdn.example", "192.0.2.7", 3600, 20),
		answerAt("10.0.0.9", "", "", "other.example", "192.0.2.70", 50, 20), // 192.0.2.70 holds 192.0.2.7
	}
	dir := t.TempDir()
	for _, format := range []string{FormatJSON, FormatKV} {
		path := filepath.Join(dir, "q."+format)
		writeRecords(t, path, format, recs)
		at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
		tests := []struct {
			name string
			q    WhoQuery
			want []string // rows, each as its fields joined by one space
		}{
			{"all", WhoQuery{Grace: 5 * time.Minute}, []string{
				row(at(0), at(100), at(100+60+300), 2, "10.0.0.23", laptop, "Laptop", "shop.example"),
				row(at(3600), at(3600), at(3600+20+300), 1, "10.0.0.23", phone, "phone", "cdn.example"),
			}},
			{"no grace", WhoQuery{}, []string{
				row(at(0), at(100), at(160), 2, "10.0.0.23", laptop, "Laptop", "shop.example"),
				row(at(3600), at(3600), at(3620), 1, "10.0.0.23", phone, "phone", "cdn.example"),
			}},
			{"at, within the grace", WhoQuery{At: at(400), Grace: 5 * time.Minute}, []string{
				row(at(0), at(100), at(460), 2, "10.0.0.23", laptop, "Laptop", "shop.example"),
			}},
			{"at, past the grace", WhoQuery{At: at(461), Grace: 5 * time.Minute}, nil},
			{"at, the phone's", WhoQuery{At: at(3610)}, []string{
				row(at(3600), at(3600), at(3620), 1, "10.0.0.23", phone, "phone", "cdn.example"),
			}},
			{"by MAC", WhoQuery{Client: ClientMatch{MAC: answers.MAC{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x02}}}, []string{
				row(at(3600), at(3600), at(3620), 1, "10.0.0.23", phone, "phone", "cdn.example"),
			}},
			{"by hostname, any case", WhoQuery{Client: ClientMatch{Host: "LAPTOP"}}, []string{
				row(at(0), at(100), at(160), 2, "10.0.0.23", laptop, "Laptop", "shop.example"),
			}},
			{"by network", WhoQuery{Client: ClientMatch{Prefix: netip.MustParsePrefix("10.0.0.0/30")}}, nil},
		}
		for _, tc := range tests {
			t.Run(format+"/"+tc.name, func(t *testing.T) {
				tc.q.IP = netip.MustParseAddr("192.0.2.7")
				var out bytes.Buffer
				if err := Who(context.Background(), &out, []string{path}, tc.q); err != nil {
					t.Fatal(err)
				}
				lines := strings.Split(strings.TrimSpace(out.String()), "\n")
				if got := strings.Join(strings.Fields(lines[0]), " "); got != "FIRST LAST VALID UNTIL COUNT CLIENT MAC HOST QNAME CHAIN" {
					t.Errorf("header %q", got)
				}
				var got []string
				for _, l := range lines[1:] {
					got = append(got, strings.Join(strings.Fields(l), " "))
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
				}
			})
		}
	}
}

func row(first, last, valid time.Time, count int, client, mac, host, qname string) string {
	return strings.Join([]string{first.Format(whoTime), last.Format(whoTime), valid.Format(whoTime), strconv.Itoa(count), client, mac, host, qname, qname}, " ")
}

// exportedNames is the qnames of the records Export writes for f.
func exportedNames(t *testing.T, path string, f Filter) []string {
	t.Helper()
	var out bytes.Buffer
	if err := Export(context.Background(), &out, []string{path}, f, FormatJSON); err != nil {
		t.Fatal(err)
	}
	var got []string
	for line := range strings.Lines(out.String()) {
		r, err := ParseLine([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r.QName)
	}
	return got
}

// Export's --client takes a device: a MAC or a DHCP hostname.
func TestExportByDevice(t *testing.T) {
	recs := []Record{
		answerAt("10.0.0.23", "aa:bb:cc:dd:ee:01", "laptop", "a.example", "192.0.2.1", 0, 60),
		answerAt("10.0.0.23", "aa:bb:cc:dd:ee:02", "Phone", "b.example", "192.0.2.1", 1, 60),
		answerAt("10.0.0.24", "", "", "c.example", "192.0.2.1", 2, 60),
	}
	path := filepath.Join(t.TempDir(), "q.log")
	writeRecords(t, path, FormatKV, recs)
	for _, tc := range []struct {
		name string
		c    ClientMatch
		want []string
	}{
		{"MAC", ClientMatch{MAC: answers.MAC{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x02}}, []string{"b.example"}},
		{"hostname", ClientMatch{Host: "phone"}, []string{"b.example"}},
		{"address", ClientMatch{Prefix: netip.MustParsePrefix("10.0.0.23/32")}, []string{"a.example", "b.example"}},
		{"unknown device", ClientMatch{Host: "tv"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := exportedNames(t, path, Filter{Client: tc.c}); !slices.Equal(got, tc.want) {
				t.Errorf("exported %v, want %v", got, tc.want)
			}
		})
	}
}

// The search that skips lines before decoding them must not skip a line
// that matches: names in any case, lines cut across chunks, gzip, and a
// log of many chunks delivered in order.
func TestExportPrefilter(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var recs []Record
	for i := range 3 * chunkSize / 400 { // a few chunks' worth
		qname := fmt.Sprintf("h%d.Example", i)
		if i%7 == 0 {
			qname = fmt.Sprintf("WWW.h%d.SHOP.example", i)
		}
		recs = append(recs, answerAt(fmt.Sprintf("10.1.%d.%d", i/250%250, i%250+1), "", "", qname, "192.0.2.1", i, 60))
	}
	for _, gz := range []bool{false, true} {
		path := filepath.Join(dir, fmt.Sprintf("q%v.log", gz))
		writeRecords(t, path, FormatJSON, recs)
		if gz {
			data, _ := os.ReadFile(path)
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			zw.Write(data)
			zw.Close()
			os.WriteFile(path, z.Bytes(), 0o640)
		}
		for _, f := range []Filter{
			{Domain: "shop.EXAMPLE."},
			{Client: ClientMatch{Prefix: netip.MustParsePrefix("10.1.3.0/24")}},
			{Client: ClientMatch{Prefix: netip.MustParsePrefix("10.1.3.7/32")}},
			{Domain: "example", Client: ClientMatch{Prefix: netip.MustParsePrefix("10.1.0.0/20")}},
		} {
			var out bytes.Buffer
			if err := Export(context.Background(), &out, []string{path}, f, FormatKV); err != nil {
				t.Fatal(err)
			}
			var want []byte
			for i := range recs {
				if f.Match(&recs[i]) {
					want = appendKV(want, &recs[i])
				}
			}
			if len(want) == 0 || !bytes.Equal(out.Bytes(), want) {
				t.Errorf("gzip %v, %+v: exported %d bytes, want the %d bytes of the matching records in order", gz, f, out.Len(), len(want))
			}
		}
	}
}

// Lines outside --since/--until are skipped by their ts text before being
// decoded; a ts written otherwise than dnsward writes it is decoded and
// judged as before.
func TestExportTimeBounds(t *testing.T) {
	var lines []byte
	for sec := range 5 {
		r := answerAt("10.0.0.1", "", "", fmt.Sprintf("s%d.example", sec), "192.0.2.1", sec, 60)
		lines = appendJSON(lines, &r)
		lines = appendKV(lines, &r)
	}
	// 09:30:02.623456789 in UTC, written with an offset and fewer digits.
	lines = append(lines, `{"v":1,"ts":"2026-11-23T11:30:02.623456789+02:00","qid":"x","proto":"udp","client":"10.0.0.1","client_port":1,"qname":"offset.example","qtype":"A","rcode":"NOERROR","source":"cache","latency_us":1}`+"\n"...)
	lines = append(lines, `ts=2026-11-23T09:30:03.5Z v=1 qid=y proto=udp client=10.0.0.1 client_port=1 qname=short.example qtype=A rcode=NOERROR source=cache latency_us=1`+"\n"...)
	path := filepath.Join(t.TempDir(), "q.log")
	os.WriteFile(path, lines, 0o640)
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	for _, tc := range []struct {
		name string
		f    Filter
		want []string
	}{
		{"since, inclusive", Filter{Since: at(3)}, []string{"s3.example", "s3.example", "s4.example", "s4.example", "short.example"}},
		{"until, exclusive", Filter{Until: at(1)}, []string{"s0.example", "s0.example"}},
		{"window", Filter{Since: at(2), Until: at(3)}, []string{"s2.example", "s2.example", "offset.example"}},
		{"window in another zone", Filter{Since: at(2).In(time.FixedZone("x", 3600)), Until: at(2).Add(time.Nanosecond)}, []string{"s2.example", "s2.example"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := exportedNames(t, path, tc.f); !slices.Equal(got, tc.want) {
				t.Errorf("exported %v, want %v", got, tc.want)
			}
		})
	}
}

type failingWriter struct{ writes int }

func (w *failingWriter) Write(p []byte) (int, error) {
	w.writes++
	return 0, errors.New("disk full")
}

// A failing writer stops the scan of a log of many chunks, and a line
// longer than a chunk is an error naming the file and the line.
func TestScanStops(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var recs []Record
	for i := range 3 * chunkSize / 300 {
		recs = append(recs, answerAt("10.0.0.1", "", "", fmt.Sprintf("n%d.example", i), "192.0.2.1", i, 60))
	}
	path := filepath.Join(dir, "q.log")
	writeRecords(t, path, FormatJSON, recs)
	w := &failingWriter{}
	if err := Export(context.Background(), w, []string{path}, Filter{}, FormatJSON); err == nil || !strings.Contains(err.Error(), "disk full") || w.writes != 1 {
		t.Errorf("export to a failing writer: %v after %d writes", err, w.writes)
	}

	long := filepath.Join(dir, "long.log")
	os.WriteFile(long, []byte("{}\n{}\n"+strings.Repeat("x", chunkSize+1)+"\n"), 0o640)
	err := Export(context.Background(), io.Discard, []string{long}, Filter{}, FormatJSON)
	if want := long + ": line 3 is longer than 1048576 bytes"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want it to say %q", err, want)
	}
}
