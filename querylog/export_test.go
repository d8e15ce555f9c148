package querylog

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
		{"client", Filter{Client: netip.MustParsePrefix("10.0.1.0/24")}, 40, nil},
		{"client host", Filter{Client: netip.MustParsePrefix("10.0.2.3/32")}, 4, []string{"h2-2.example"}},
		{"time window", Filter{Since: sharedTime(1, 0), Until: sharedTime(2, 5)}, 60, nil},
		{"all conditions", Filter{Since: sharedTime(2, 0), Client: netip.MustParsePrefix("10.0.2.0/24"), Domain: "h2-9.example"}, 4, []string{"h2-9.example"}},
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
			if err := Who(context.Background(), &out, files, netip.MustParseAddr(tc.ip)); err != nil {
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
