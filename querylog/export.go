package querylog

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

const (
	maxLine = 1 << 20 // bounds one record when reading logs back
	whoTime = "2006-01-02T15:04:05.000Z07:00"
)

// Filter selects records for Export; zero fields match everything.
type Filter struct {
	Since, Until time.Time    // Since inclusive, Until exclusive
	Client       netip.Prefix // the client's network
	Domain       string       // qname equal to, or a subdomain of, this name
}

// Match reports whether r passes every set condition.
func (f Filter) Match(r *Record) bool {
	if !f.Since.IsZero() && r.Time.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !r.Time.Before(f.Until) {
		return false
	}
	if f.Client.IsValid() && !f.Client.Contains(r.Client) {
		return false
	}
	if f.Domain != "" {
		d := strings.ToLower(strings.TrimSuffix(f.Domain, "."))
		q := strings.ToLower(strings.TrimSuffix(r.QName, "."))
		if q != d && !strings.HasSuffix(q, "."+d) {
			return false
		}
	}
	return true
}

// Export writes the records of files (json or kv, plain or gzipped, in
// the order given) that match f, in format. Malformed lines are skipped
// and reported in the returned error after everything else is written.
func Export(ctx context.Context, w io.Writer, files []string, f Filter, format string) error {
	switch format {
	case "":
		format = FormatJSON
	case FormatJSON, FormatKV:
	default:
		return fmt.Errorf("querylog: unknown format %q; want %q or %q", format, FormatJSON, FormatKV)
	}
	bw := bufio.NewWriter(w)
	var b []byte
	err := scan(ctx, files, func(r *Record) error {
		if !f.Match(r) {
			return nil
		}
		b = appendFormat(b[:0], format, r)
		_, err := bw.Write(b)
		return err
	})
	if ferr := bw.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("querylog: export: %w", ferr)
	}
	return err
}

// Who writes which clients asked for names that resolved to ip, and when:
// one row per client and name, with first and last time seen and count.
func Who(ctx context.Context, w io.Writer, files []string, ip netip.Addr) error {
	type key struct{ client, qname, via string }
	type seen struct {
		first, last time.Time
		count       int
	}
	rows := map[key]*seen{}
	ip = ip.Unmap()
	err := scan(ctx, files, func(r *Record) error {
		if r.Type != "A" && r.Type != "AAAA" {
			return nil
		}
		if a, err := netip.ParseAddr(r.Data); err != nil || a.Unmap() != ip {
			return nil
		}
		k := key{r.Client.String(), r.QName, strings.Join(r.Chain, " > ")}
		s := rows[k]
		if s == nil {
			s = &seen{first: r.Time, last: r.Time}
			rows[k] = s
		}
		s.first = minTime(s.first, r.Time)
		if r.Time.After(s.last) {
			s.last = r.Time
		}
		s.count++
		return nil
	})
	keys := make([]key, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := rows[a].first.Compare(rows[b].first); c != 0 {
			return c
		}
		return cmp.Or(strings.Compare(a.client, b.client), strings.Compare(a.qname, b.qname), strings.Compare(a.via, b.via))
	})
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	io.WriteString(tw, "FIRST\tLAST\tCOUNT\tCLIENT\tQNAME\tCHAIN\n")
	for _, k := range keys {
		s := rows[k]
		line := s.first.UTC().Format(whoTime) + "\t" + s.last.UTC().Format(whoTime) + "\t" +
			strconv.Itoa(s.count) + "\t" + k.client + "\t" + k.qname + "\t" + k.via + "\n"
		io.WriteString(tw, line)
	}
	if ferr := tw.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("querylog: who: %w", ferr)
	}
	return err
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// scan calls fn for every well-formed record of files. It stops at the
// first error from fn, ctx or a file, and otherwise reports malformed
// lines once all files are read.
func scan(ctx context.Context, files []string, fn func(*Record) error) error {
	return scanLines(ctx, files, func(line []byte) (bool, error) {
		if lineKind(line) != "" {
			return true, nil // a flow record (or a later kind), not DNS
		}
		r, err := ParseLine(line)
		if err != nil {
			return false, nil
		}
		return true, fn(&r)
	})
}

// scanLines calls each for every non-blank line of files; each reports
// whether the line was well-formed and any error that stops the scan.
func scanLines(ctx context.Context, files []string, each func([]byte) (bool, error)) error {
	var bad malformed
	for _, name := range files {
		if err := scanFile(ctx, name, each, &bad); err != nil {
			return err
		}
	}
	if bad.count > 0 {
		return fmt.Errorf("querylog: %d %w, first at %s", bad.count, ErrMalformed, bad.first)
	}
	return nil
}

type malformed struct {
	count int
	first string
}

func scanFile(ctx context.Context, name string, each func([]byte) (bool, error), bad *malformed) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("querylog: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	var rd io.Reader = br
	// Sniffed rather than judged by name: logrotate's delaycompress and
	// hand-made copies do not always keep the .gz suffix honest.
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("querylog: %s: %w", name, err)
		}
		defer zr.Close()
		rd = zr
	}
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for n := 1; sc.Scan(); n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		ok, err := each(sc.Bytes())
		if err != nil {
			return err
		}
		if !ok {
			if bad.count == 0 {
				bad.first = name + ":" + strconv.Itoa(n)
			}
			bad.count++
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("querylog: %s: %w", name, err)
	}
	return ctx.Err()
}
