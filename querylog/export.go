package querylog

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dnsward/dnsward/answers"
)

const whoTime = "2006-01-02T15:04:05.000Z07:00"

// ClientMatch selects records by who asked; its zero value matches all.
type ClientMatch struct {
	Prefix netip.Prefix // the client's network
	MAC    answers.MAC  // the client's device (client_mac)
	Host   string       // the client's DHCP hostname (client_host), any case
}

// Match reports whether r was asked by a client c selects.
func (c ClientMatch) Match(r *Record) bool {
	switch {
	case c.Prefix.IsValid() && !c.Prefix.Contains(r.Client):
		return false
	case !c.MAC.IsZero() && r.ClientMAC != c.MAC.String():
		return false
	case c.Host != "" && !strings.EqualFold(r.ClientHost, c.Host):
		return false
	}
	return true
}

// needles are texts every line that c matches holds: the address, or
// the leading whole octets of an IPv4 network, the MAC, the hostname.
func (c ClientMatch) needles() [][]byte {
	var out [][]byte
	if p := c.Prefix; p.IsValid() {
		a := p.Addr()
		switch {
		case p.Bits() == a.BitLen():
			out = append(out, []byte(a.String()))
		case a.Is4() && p.Bits() >= 8:
			octets := a.As4()
			var b []byte
			for _, o := range octets[:p.Bits()/8] {
				b = strconv.AppendUint(b, uint64(o), 10)
				b = append(b, '.')
			}
			out = append(out, b)
		}
	}
	if !c.MAC.IsZero() {
		out = append(out, []byte(c.MAC.String()))
	}
	if n := plainNeedle(c.Host); n != nil {
		out = append(out, n)
	}
	return out
}

// plainNeedle is name lowercased, or nil when name is empty or holds a
// byte the log may escape or quote, so its text in a line is unknown.
func plainNeedle(name string) []byte {
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return nil
		}
	}
	if name == "" {
		return nil
	}
	return []byte(strings.ToLower(name))
}

// Filter selects records for Export; zero fields match everything.
type Filter struct {
	Since, Until time.Time   // Since inclusive, Until exclusive
	Client       ClientMatch // the client's network or device
	Domain       string      // qname equal to, or a subdomain of, this name
}

// Match reports whether r passes every set condition.
func (f Filter) Match(r *Record) bool {
	if !f.Since.IsZero() && r.Time.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !r.Time.Before(f.Until) {
		return false
	}
	if !f.Client.Match(r) {
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

// needles are texts every line that f matches holds.
func (f Filter) needles() [][]byte {
	var out [][]byte
	// The domain first: it is the most selective, and the search runs
	// for the first needle only.
	if n := plainNeedle(strings.TrimSuffix(f.Domain, ".")); n != nil {
		out = append(out, n)
	}
	return append(out, f.Client.needles()...)
}

// textTime is t as the log writes it, "" for the zero time.
func textTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(tsLayout)
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
	spec := scanSpec{
		needles: f.needles(),
		since:   textTime(f.Since),
		until:   textTime(f.Until),
		keep:    f.Match,
		encode:  func(b []byte, r *Record) []byte { return appendFormat(b, format, r) },
	}
	err := scan(ctx, files, spec, func(out []byte, _ []Record) error {
		_, err := bw.Write(out)
		return err
	})
	if ferr := bw.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("querylog: export: %w", ferr)
	}
	return err
}

// WhoQuery is what Who looks for.
type WhoQuery struct {
	IP     netip.Addr    // the answer address
	Client ClientMatch   // only these clients; the zero value for all
	At     time.Time     // only answers valid then; the zero time for all
	Grace  time.Duration // added to each answer's TTL, as in the answer index
}

// Who writes which clients asked for names that resolved to q.IP, and
// when: the rows of WhoRows.
func Who(ctx context.Context, w io.Writer, files []string, q WhoQuery) error {
	out, err := WhoRows(ctx, files, q)
	if ferr := WriteWho(w, out); err == nil && ferr != nil {
		err = fmt.Errorf("querylog: who: %w", ferr)
	}
	return err
}

// WhoRows reads which clients asked for names that resolved to q.IP, and
// when: one row per client, device and name, with the first and last
// time asked, until when the last answer was valid (its time plus its TTL
// plus q.Grace) and the count. With q.At set, only the rows valid then
// (first asked <= At <= valid until) are returned. The rows read before an
// error are returned with it.
func WhoRows(ctx context.Context, files []string, q WhoQuery) ([]WhoRow, error) {
	type key struct{ client, mac, host, qname, via string }
	rows := map[key]*WhoRow{}
	ip := q.IP.Unmap()
	spec := scanSpec{
		needles: append([][]byte{[]byte(ip.String())}, q.Client.needles()...),
		keep: func(r *Record) bool {
			if r.Type != "A" && r.Type != "AAAA" || !q.Client.Match(r) {
				return false
			}
			a, err := netip.ParseAddr(r.Data)
			return err == nil && a.Unmap() == ip
		},
	}
	err := scan(ctx, files, spec, func(_ []byte, recs []Record) error {
		for i := range recs {
			r := &recs[i]
			k := key{r.Client.String(), r.ClientMAC, r.ClientHost, r.QName, strings.Join(r.Chain, " > ")}
			s := rows[k]
			if s == nil {
				s = &WhoRow{First: r.Time, Last: r.Time, Client: k.client, MAC: k.mac, Host: k.host, QName: k.qname, Chain: k.via}
				rows[k] = s
			}
			s.First = minTime(s.First, r.Time)
			if !r.Time.Before(s.Last) {
				s.Last = r.Time
				s.ValidUntil = r.Time.Add(time.Duration(r.TTL)*time.Second + q.Grace)
			}
			s.Count++
		}
		return nil
	})
	out := make([]WhoRow, 0, len(rows))
	for _, s := range rows {
		if q.At.IsZero() || !q.At.Before(s.First) && !q.At.After(s.ValidUntil) {
			out = append(out, *s)
		}
	}
	return out, err
}

// Files is the log file with its rotated siblings (FILE.1, FILE.2.gz...),
// oldest first, so that a scan runs in time order.
func Files(file string) []string {
	rotated, _ := filepath.Glob(file + ".*")
	slices.SortFunc(rotated, func(a, b string) int { return rotation(b) - rotation(a) })
	return append(rotated, file)
}

// rotation is N of FILE.N or FILE.N.gz.
func rotation(name string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(filepath.Ext(strings.TrimSuffix(name, ".gz")), "."))
	return n
}

// WhoRow is one row of who's table: a client, its device and a name asked
// that resolved to the address looked up.
type WhoRow struct {
	First, Last, ValidUntil time.Time
	// Count is the answers seen; 0 when unknown (the live index keeps none).
	Count                    int
	Client, MAC, Host, QName string
	// Chain is the CNAME chain from QName to the answer's owner, " > "
	// between names.
	Chain string
}

// WriteWho writes rows as who's table, oldest first asked first; it
// sorts rows in place. querylog who and the live dnsward who share it.
func WriteWho(w io.Writer, rows []WhoRow) error {
	slices.SortFunc(rows, func(a, b WhoRow) int {
		if c := a.First.Compare(b.First); c != 0 {
			return c
		}
		return cmp.Or(strings.Compare(a.Client, b.Client), strings.Compare(a.MAC, b.MAC), strings.Compare(a.Host, b.Host),
			strings.Compare(a.QName, b.QName), strings.Compare(a.Chain, b.Chain))
	})
	// tabwriter writes cell by cell: buffered, that is one write in 4 KiB
	// rather than a system call per cell.
	bw := bufio.NewWriter(w)
	tw := tabwriter.NewWriter(bw, 0, 8, 2, ' ', 0)
	io.WriteString(tw, "FIRST\tLAST\tVALID UNTIL\tCOUNT\tCLIENT\tMAC\tHOST\tQNAME\tCHAIN\n")
	for _, s := range rows {
		count := "-"
		if s.Count > 0 {
			count = strconv.Itoa(s.Count)
		}
		line := s.First.UTC().Format(whoTime) + "\t" + s.Last.UTC().Format(whoTime) + "\t" + s.ValidUntil.UTC().Format(whoTime) + "\t" +
			count + "\t" + s.Client + "\t" + cmp.Or(s.MAC, "-") + "\t" + cmp.Or(s.Host, "-") + "\t" +
			s.QName + "\t" + s.Chain + "\n"
		io.WriteString(tw, line)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return bw.Flush()
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// scanLines calls each for every non-blank line of files, in order, on one
// goroutine; each reports whether the line was well-formed and any error
// that stops the scan. Malformed lines are reported once all are read.
func scanLines(ctx context.Context, files []string, each func([]byte) (bool, error)) error {
	var bad malformed
	for _, name := range files {
		if err := scanFileLines(ctx, name, each, &bad); err != nil {
			return err
		}
	}
	return bad.err()
}

func scanFileLines(ctx context.Context, name string, each func([]byte) (bool, error), bad *malformed) error {
	rd, closeLog, err := openLog(name)
	if err != nil {
		return err
	}
	defer closeLog()
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64<<10), chunkSize) // the longest line scan reads too
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
			bad.add(name, n, 1)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("querylog: %s: %w", name, err)
	}
	return ctx.Err()
}
