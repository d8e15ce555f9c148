package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestQueryLogScan runs the query-log scan workload alone and prints its
// table: DNSWARD_BENCH_SCAN=N sets the records (3100000 for issue 20's
// figures); unset, it runs on 20,000 records and only checks the counts.
func TestQueryLogScan(t *testing.T) {
	if testing.Short() {
		t.Skip("builds dnsward")
	}
	records := 20000
	if s := os.Getenv("DNSWARD_BENCH_SCAN"); s != "" {
		var err error
		if records, err = strconv.Atoi(s); err != nil {
			t.Fatalf("DNSWARD_BENCH_SCAN=%q: %v", s, err)
		}
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "dnsward")
	if out, err := exec.Command("go", "build", "-o", bin, "../dnsward").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	st, err := measureScan(context.Background(), dir, bin, records)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	scanSection(&b, st)
	t.Log("\n" + b.String())
	if st.Records < int64(records) || len(st.Rows) != 2 {
		t.Fatalf("%d records, %d rows", st.Records, len(st.Rows))
	}
	// who prints a header and one row per client, device and name; export
	// one line per record grep counts.
	if who := st.Rows[0]; who.Lines < 2 || who.GrepLines < int64(records)/200 {
		t.Errorf("who: %d lines, grep counted %d", who.Lines, who.GrepLines)
	}
	if exp := st.Rows[1]; exp.Lines != exp.GrepLines || exp.Lines < int64(records)/200 {
		t.Errorf("export: %d lines, grep counted %d", exp.Lines, exp.GrepLines)
	}
	if _, err := os.Stat(filepath.Join(dir, "scan-queries.log")); err == nil {
		t.Error("the generated log was not removed")
	}
}
