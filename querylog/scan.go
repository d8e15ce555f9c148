package querylog

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

// chunkSize is how much of a log one worker takes at a time: whole lines,
// so that a line longer than chunkSize cannot be read. Chunks small
// enough to stay in the CPU's cache between the reader's copy and the
// worker's search cost a third less CPU than 4 MiB ones.
const chunkSize = 1 << 20

// scanSpec says what scan looks for. Reading the log back is dominated by
// decoding, so lines that cannot match are skipped before they are
// decoded, by a search for needles that every matching line holds.
type scanSpec struct {
	// needles are lowercase texts a matching line holds, each of them
	// in any ASCII case.
	needles [][]byte
	// since and until bound the ts of the lines decoded, in tsLayout
	// (UTC), so that they compare as text: a line whose ts lies outside
	// is skipped undecoded. Empty for no bound.
	since, until string
	// keep selects decoded records; nil keeps all.
	keep func(*Record) bool
	// encode, when set, turns kept records into output; without it they
	// are handed over as records.
	encode func([]byte, *Record) []byte
}

// chunk is a run of whole lines of one file, and what a worker made of
// them.
type chunk struct {
	data      []byte
	firstLine int           // the line number of data's first line
	done      chan struct{} // closed when the fields below are set
	out       []byte        // the kept records encoded
	recs      []Record      // or the kept records
	bad       int           // malformed lines
	firstBad  int           // the line number of the first of them
}

// scan reads files in order, with the decoding spread over the CPUs, and
// calls deliver with each chunk's output in file order. It stops at the
// first error from deliver, ctx or a file, and otherwise reports
// malformed lines once all files are read. Lines that hold no needle are
// not decoded, so a malformed one among them goes unreported.
func scan(ctx context.Context, files []string, spec scanSpec, deliver func(out []byte, recs []Record) error) error {
	var bad malformed
	for _, name := range files {
		if err := scanFile(ctx, name, spec, deliver, &bad); err != nil {
			return err
		}
	}
	return bad.err()
}

// malformed counts the malformed lines of a scan and where the first was.
type malformed struct {
	count int
	first string
}

// add counts n malformed lines, the first of them at line of file name.
func (m *malformed) add(name string, line, n int) {
	if m.count == 0 {
		m.first = name + ":" + strconv.Itoa(line)
	}
	m.count += n
}

// err is the scan's error for the malformed lines, nil when none were.
func (m *malformed) err() error {
	if m.count == 0 {
		return nil
	}
	return fmt.Errorf("querylog: %d %w, first at %s", m.count, ErrMalformed, m.first)
}

// openLog opens a log file, plain or gzipped, for reading.
func openLog(name string) (io.Reader, func(), error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, fmt.Errorf("querylog: %w", err)
	}
	br := bufio.NewReaderSize(f, 64<<10)
	// Sniffed rather than judged by name: logrotate's delaycompress and
	// hand-made copies do not always keep the .gz suffix honest.
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("querylog: %s: %w", name, err)
		}
		return zr, func() { zr.Close(); f.Close() }, nil
	}
	return br, func() { f.Close() }, nil
}

// scanFile runs one file through a reader goroutine, which cuts it into
// chunks of lines, and one decoding worker per CPU; this goroutine
// delivers the chunks in the order read.
func scanFile(ctx context.Context, name string, spec scanSpec, deliver func([]byte, []Record) error, bad *malformed) error {
	rd, closeLog, err := openLog(name)
	if err != nil {
		return err
	}
	defer closeLog()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := runtime.GOMAXPROCS(0)
	// Buffers circulate: reader, worker, this goroutine, back to the
	// reader. Their number bounds the memory held and the work ahead.
	free := make(chan []byte, 2*workers+2)
	for range cap(free) {
		free <- make([]byte, 0, chunkSize)
	}
	work := make(chan *chunk, cap(free))
	order := make(chan *chunk, cap(free))
	var wg sync.WaitGroup
	var readErr error
	wg.Go(func() {
		defer close(work)
		defer close(order)
		readErr = readChunks(ctx, rd, free, func(c *chunk) {
			work <- c
			order <- c
		})
	})
	for range workers {
		wg.Go(func() {
			var folded []byte
			for c := range work {
				folded = spec.process(c, folded)
				close(c.done)
			}
		})
	}
	var err2 error
	for c := range order {
		<-c.done
		if err2 == nil {
			if c.bad > 0 {
				bad.add(name, c.firstBad, c.bad)
			}
			if err2 = deliver(c.out, c.recs); err2 != nil {
				cancel() // the reader stops; the chunks read drain below
			}
		}
		free <- c.data[:0]
	}
	wg.Wait()
	switch {
	case err2 != nil:
		return err2
	case readErr != nil:
		return fmt.Errorf("querylog: %s: %w", name, readErr)
	}
	return ctx.Err()
}

// readChunks cuts rd into chunks of whole lines in the buffers from free,
// handing each to send, until rd ends or ctx is done.
func readChunks(ctx context.Context, rd io.Reader, free <-chan []byte, send func(*chunk)) error {
	var carry []byte // the start of a line cut by the end of the last chunk
	line := 1
	for {
		var buf []byte
		select {
		case buf = <-free:
		case <-ctx.Done():
			return ctx.Err()
		}
		buf = append(buf[:0], carry...)
		var rerr error
		for len(buf) < cap(buf) && rerr == nil {
			var n int
			n, rerr = rd.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
		}
		if rerr != nil && rerr != io.EOF {
			return rerr
		}
		cut := len(buf)
		if rerr == nil {
			cut = bytes.LastIndexByte(buf, '\n') + 1
			if cut == 0 {
				return fmt.Errorf("line %d is longer than %d bytes", line, chunkSize)
			}
		}
		carry = append(carry[:0], buf[cut:]...)
		if cut > 0 {
			c := &chunk{data: buf[:cut], firstLine: line, done: make(chan struct{})}
			line += bytes.Count(c.data, []byte{'\n'})
			send(c)
		}
		if rerr == io.EOF {
			return nil
		}
	}
}

// process decodes c's candidate lines and keeps what spec selects;
// scratch is space for a lowercased line, returned for reuse.
func (spec *scanSpec) process(c *chunk, scratch []byte) []byte {
	var find finder
	if len(spec.needles) > 0 {
		find = newFinder(spec.needles[0])
	}
	data := c.data
	for start := 0; start < len(data); {
		if len(spec.needles) > 0 {
			i := find.index(data[start:])
			if i < 0 {
				break
			}
			start += bytes.LastIndexByte(data[start:start+i], '\n') + 1
		}
		end := bytes.IndexByte(data[start:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += start
		}
		line := data[start:end]
		if len(spec.needles) > 1 {
			// The other needles, in a lowercased copy of this line only.
			scratch = lowerASCII(scratch[:0], line)
			if !holdsAll(scratch, spec.needles[1:]) {
				line = nil
			}
		}
		if line != nil {
			spec.decode(c, start, line)
		}
		start = end + 1
	}
	return scratch
}

// holdsAll reports whether line holds every needle.
func holdsAll(line []byte, needles [][]byte) bool {
	for _, n := range needles {
		if !bytes.Contains(line, n) {
			return false
		}
	}
	return true
}

// decode adds line, at offset off of c.data, to c's output if kept.
func (spec *scanSpec) decode(c *chunk, off int, line []byte) {
	// A flow record (or a later kind) is not a DNS record.
	if len(bytes.TrimSpace(line)) == 0 || spec.outsideTimes(line) || lineKind(line) != "" {
		return
	}
	r, err := ParseLine(line)
	if err != nil {
		if c.bad == 0 {
			c.firstBad = c.firstLine + bytes.Count(c.data[:off], []byte{'\n'})
		}
		c.bad++
		return
	}
	switch {
	case spec.keep != nil && !spec.keep(&r):
	case spec.encode != nil:
		c.out = spec.encode(c.out, &r)
	default:
		c.recs = append(c.recs, r)
	}
}

// finder searches for a lowercase needle, ignoring ASCII case, eight
// positions at a time by two of its bytes at once (the "generic SIMD"
// method, here in a word): bytes.Index anchors on the first byte alone,
// which for an address's digits recurs several times per line and costs
// a call each time, and it cannot ignore case without a lowercased copy.
type finder struct {
	needle   []byte
	p1, p2   int    // the positions of the probe bytes, p1 < p2
	at1, at2 uint64 // those bytes, repeated in every byte of a word
	// or1 and or2 set bit 5 of every byte when the probe byte is a
	// letter: b|0x20 equals a lowercase letter exactly when b is that
	// letter in either case.
	or1, or2 uint64
}

func newFinder(needle []byte) finder {
	f := finder{needle: needle}
	if len(needle) < 2 {
		return f
	}
	// The two rarest bytes in log text make the fewest false candidates.
	f.p1, f.p2 = 0, len(needle)-1
	for i := range needle {
		if commonness(needle[i]) < commonness(needle[f.p1]) {
			f.p1 = i
		}
	}
	for i := len(needle) - 1; i >= 0; i-- {
		if i != f.p1 && (f.p2 == f.p1 || commonness(needle[i]) < commonness(needle[f.p2])) {
			f.p2 = i
		}
	}
	if f.p1 > f.p2 {
		f.p1, f.p2 = f.p2, f.p1
	}
	const ones = 0x0101010101010101
	f.at1, f.at2 = ones*uint64(needle[f.p1]), ones*uint64(needle[f.p2])
	f.or1, f.or2 = ones*uint64(letterBit(needle[f.p1])), ones*uint64(letterBit(needle[f.p2]))
	return f
}

// letterBit is the bit that tells a lowercase letter c from its capital.
func letterBit(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return 'a' - 'A'
	}
	return 0
}

// equalFold reports whether b, lowercased, is the lowercase needle.
func equalFold(b, needle []byte) bool {
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != needle[i] {
			return false
		}
	}
	return true
}

// commonness ranks how often c occurs in query-log lines, roughly.
func commonness(c byte) int {
	switch {
	case strings.IndexByte(`0123."':,_aeiost`, c) >= 0:
		return 3
	case c >= '0' && c <= '9' || c >= 'a' && c <= 'z':
		return 2
	}
	return 1
}

// index is the offset of the first needle in s, in any case, or -1.
func (f *finder) index(s []byte) int {
	n, i := len(f.needle), 0
	if n >= 2 {
		for ; i+f.p2+8 <= len(s); i += 8 {
			m := zeroBytes((binary.LittleEndian.Uint64(s[i+f.p1:])|f.or1)^f.at1) &
				zeroBytes((binary.LittleEndian.Uint64(s[i+f.p2:])|f.or2)^f.at2)
			for ; m != 0; m &= m - 1 {
				k := i + bits.TrailingZeros64(m)/8
				if k+n <= len(s) && equalFold(s[k:k+n], f.needle) {
					return k
				}
			}
		}
	}
	for ; i+n <= len(s); i++ {
		if equalFold(s[i:i+n], f.needle) {
			return i
		}
	}
	return -1
}

// zeroBytes sets the high bit of each zero byte of x, and no other bit.
func zeroBytes(x uint64) uint64 {
	const low7 = 0x7f7f7f7f7f7f7f7f
	return ^((x&low7 + low7) | x | low7)
}

// outsideTimes reports whether line's ts, read without decoding the line,
// lies outside [since, until); false when the ts is not found in the
// form dnsward writes, for the decoder to judge.
func (spec *scanSpec) outsideTimes(line []byte) bool {
	if spec.since == "" && spec.until == "" {
		return false
	}
	const n = len("2006-01-02T15:04:05.000000000Z")
	i := 3 // kv: ts= first
	if !bytes.HasPrefix(line, []byte("ts=")) {
		j := bytes.Index(line[:min(len(line), 32)], []byte(`"ts":"`))
		if j < 0 {
			return false
		}
		i = j + len(`"ts":"`)
	}
	if len(line) < i+n || line[i+n-1] != 'Z' || len(line) > i+n && line[i+n] != '"' && line[i+n] != ' ' {
		return false
	}
	ts := string(line[i : i+n])
	return spec.since != "" && ts < spec.since || spec.until != "" && ts >= spec.until
}

// lowerASCII appends src to dst with ASCII letters lowercased, eight bytes
// at a time: the case-blind search costs one fast pass over the chunk.
func lowerASCII(dst, src []byte) []byte {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	n := len(dst)
	dst = append(dst, src...)
	b := dst[n:]
	for len(b) >= 8 {
		w := binary.LittleEndian.Uint64(b)
		low := w &^ high                             // each byte's low seven bits
		geA := low + (0x80-'A')*ones                 // high bit set where the byte is >= 'A'
		gtZ := low + (0x80-'Z'-1)*ones               // high bit set where the byte is > 'Z'
		upper := geA &^ gtZ &^ w & high              // ... and below 0x80
		binary.LittleEndian.PutUint64(b, w|upper>>2) // 0x80>>2 is 'a'-'A'
		b = b[8:]
	}
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return dst
}
