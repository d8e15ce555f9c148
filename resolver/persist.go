package resolver

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/dnsward/dnsward/internal/atomicfile"
	"github.com/miekg/dns"
)

// The cache file: a header (magic, version, the wall-clock time it was
// written), one record per entry, an end record with the count, and a
// CRC-32C of everything before it. An entry is its packed answer and a few
// varints: about 70 bytes for an A answer. Each of the store's shards is
// written from its least to its most recently used entry.
const (
	persistMagic   = "dnswcach"
	persistVersion = 1
	// persistEntry and persistEnd tag the records.
	persistEntry, persistEnd = 1, 0
	// persistMaxUpstreams bounds the upstream table a file may declare, so a
	// corrupt index cannot make a load allocate without end.
	persistMaxUpstreams = 1 << 16
	persistBuffer       = 1 << 16
	// persistMaxMillis bounds an age or lifetime, so that no sum of them
	// and the time elapsed overflows a time.Duration: about 3 years.
	persistMaxMillis = 1 << 36
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// ErrCacheFile is wrapped by every error that says a cache file is not one
// this version can trust: truncated, corrupt, of another format or version.
var ErrCacheFile = errors.New("not a usable cache file")

// PersistStats says what a save or a load did with the cache's entries.
type PersistStats struct {
	// Entries were written, or loaded into the cache.
	Entries int
	// Expired were dropped on load: past their TTL and the serve-stale
	// window by the time that passed since the file was written.
	Expired int
}

// SaveFile writes the cache to path, whole or not at all (atomicfile), so
// that a later start can load it.
func (c *Cache) SaveFile(path string) (PersistStats, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return PersistStats{}, fmt.Errorf("cache file: %w", err)
	}
	var st PersistStats
	err := atomicfile.Write(path, func(w io.Writer) (err error) {
		st, err = c.save(w)
		return err
	})
	if err != nil {
		return PersistStats{}, fmt.Errorf("cache file %s: %w", path, err)
	}
	return st, nil
}

// save writes every entry still worth keeping (live, or within the
// serve-stale window) to f.
func (c *Cache) save(f io.Writer) (PersistStats, error) {
	h := crc32.New(crc32c)
	w := bufio.NewWriterSize(io.MultiWriter(f, h), persistBuffer)
	w.WriteString(persistMagic)
	var buf []byte
	buf = binary.BigEndian.AppendUint16(buf, persistVersion)
	buf = binary.BigEndian.AppendUint64(buf, uint64(c.clock().UnixNano()))
	w.Write(buf)
	now := c.now()
	// The store's upstream numbers, as the file numbers them.
	upstreams := map[uint16]uint64{}
	var st PersistStats
	c.cold.each(func(r record) {
		if now >= r.expires+c.cfg.ServeStale {
			return
		}
		buf = append(buf[:0], persistEntry, 0)
		if r.do {
			buf[1] = 1
		}
		i, known := upstreams[r.upstream]
		if !known {
			i = uint64(len(upstreams))
			upstreams[r.upstream] = i
		}
		buf = binary.AppendUvarint(buf, i)
		if !known {
			up := c.cold.upstreamName(r.upstream)
			buf = binary.AppendUvarint(buf, uint64(len(up)))
			buf = append(buf, up...)
		}
		// The age rounded up, so a loaded entry is never younger than it was.
		buf = binary.AppendUvarint(buf, uint64((now-r.stored+time.Millisecond-1)/time.Millisecond))
		buf = binary.AppendUvarint(buf, uint64((r.expires-r.stored)/time.Millisecond))
		buf = binary.AppendUvarint(buf, uint64(len(r.wire)))
		w.Write(buf)
		w.Write(r.wire)
		st.Entries++
	})
	buf = binary.AppendUvarint(append(buf[:0], persistEnd), uint64(st.Entries))
	w.Write(buf)
	if err := w.Flush(); err != nil {
		return PersistStats{}, err
	}
	_, err := f.Write(binary.BigEndian.AppendUint32(nil, h.Sum32()))
	return st, err
}

// LoadFile fills the cache with the entries of a file SaveFile wrote,
// their TTLs counted down by the time that passed since, and drops those
// expired beyond the serve-stale window. The cache is left as it was unless
// the whole file is sound; an error wrapping ErrCacheFile says why it is
// not, one wrapping fs.ErrNotExist that there is none. What the cache held
// is replaced, so it must be called before the cache answers a query.
func (c *Cache) LoadFile(path string) (PersistStats, error) {
	f, err := os.Open(path)
	if err != nil {
		return PersistStats{}, fmt.Errorf("cache file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return PersistStats{}, fmt.Errorf("cache file: %w", err)
	}
	st, err := c.load(f, fi.Size())
	if err != nil {
		return PersistStats{}, fmt.Errorf("cache file %s: %w", path, err)
	}
	return st, nil
}

// load reads size bytes of a cache file from f.
func (c *Cache) load(f io.Reader, size int64) (PersistStats, error) {
	const header = len(persistMagic) + 2 + 8
	if size < int64(header)+4 {
		return PersistStats{}, fmt.Errorf("%w: %d bytes is too short", ErrCacheFile, size)
	}
	h := crc32.New(crc32c)
	r := bufio.NewReaderSize(io.TeeReader(io.LimitReader(f, size-4), h), persistBuffer)
	head := make([]byte, header)
	if _, err := io.ReadFull(r, head); err != nil {
		return PersistStats{}, fmt.Errorf("%w: header: %w", ErrCacheFile, err)
	}
	if string(head[:len(persistMagic)]) != persistMagic {
		return PersistStats{}, fmt.Errorf("%w: no %q at its start", ErrCacheFile, persistMagic)
	}
	if v := binary.BigEndian.Uint16(head[len(persistMagic):]); v != persistVersion {
		return PersistStats{}, fmt.Errorf("%w: format version %d, this dnsward reads %d", ErrCacheFile, v, persistVersion)
	}
	written := time.Unix(0, int64(binary.BigEndian.Uint64(head[len(persistMagic)+2:])))
	elapsed := c.clock().Sub(written)
	if elapsed < 0 {
		// A clock set back (a board without RTC before NTP) leaves the
		// entries' age unknown: serving them could outlive their TTLs.
		return PersistStats{}, fmt.Errorf("%w: written at %s, later than now: the clock went back", ErrCacheFile, written.UTC().Format(time.RFC3339))
	}
	// Read into a store of its own, which becomes the cache's only once
	// the whole file proved sound.
	into := newStore(c.cfg.Size)
	st, err := c.readEntries(r, elapsed, into)
	if err != nil {
		into.Close()
		return PersistStats{}, fmt.Errorf("%w: %w", ErrCacheFile, err)
	}
	if err := checkEnd(r, f, h.Sum32()); err != nil {
		into.Close()
		return PersistStats{}, fmt.Errorf("%w: %w", ErrCacheFile, err)
	}
	c.cold.Close()
	c.cold = into
	return st, nil
}

// checkEnd checks that r, past the end record, is at its end, and that
// the checksum that follows in f is sum.
func checkEnd(r *bufio.Reader, f io.Reader, sum uint32) error {
	if _, err := r.ReadByte(); err != io.EOF {
		return errors.New("data after the end record")
	}
	var got [4]byte
	if _, err := io.ReadFull(f, got[:]); err != nil {
		return fmt.Errorf("checksum: %w", err)
	}
	if binary.BigEndian.Uint32(got[:]) != sum {
		return errors.New("checksum mismatch")
	}
	return nil
}

// readEntries reads the records up to and including the end record into
// a store, those still worth keeping after elapsed.
func (c *Cache) readEntries(r *bufio.Reader, elapsed time.Duration, into *store) (PersistStats, error) {
	now := c.now()
	var (
		st        PersistStats
		upstreams []uint16
		buf       []byte
		read      uint64
		flags     [2]byte
	)
	for {
		if _, err := io.ReadFull(r, flags[:1]); err != nil {
			return PersistStats{}, fmt.Errorf("record %d: %w", read, noEOF(err))
		}
		if flags[0] == persistEnd {
			count, err := binary.ReadUvarint(r)
			if err != nil {
				return PersistStats{}, fmt.Errorf("end record: %w", noEOF(err))
			}
			if count != read {
				return PersistStats{}, fmt.Errorf("end record counts %d entries, the file holds %d", count, read)
			}
			return st, nil
		}
		if flags[0] != persistEntry {
			return PersistStats{}, fmt.Errorf("record %d: unknown tag %d", read, flags[0])
		}
		e, err := readEntry(r, &upstreams, into, &buf)
		if err != nil {
			return PersistStats{}, fmt.Errorf("record %d: %w", read, err)
		}
		read++
		// Times on this cache's clock: stored as long before now as the
		// entry was old when written, plus the time since.
		e.stored = now - e.stored - elapsed
		e.expires += e.stored
		if now >= e.expires+c.cfg.ServeStale {
			st.Expired++
			continue
		}
		into.put(e)
		st.Entries++
	}
}

// readEntry reads one entry record after its tag. The record's stored is
// its age when written and its expires its lifetime, both relative.
func readEntry(r *bufio.Reader, upstreams *[]uint16, into *store, buf *[]byte) (record, error) {
	flags, err := r.ReadByte()
	if err != nil {
		return record{}, noEOF(err)
	}
	up, err := binary.ReadUvarint(r)
	if err != nil {
		return record{}, noEOF(err)
	}
	// An index one past the table brings a new upstream's name.
	switch n := uint64(len(*upstreams)); {
	case up > n || up >= persistMaxUpstreams:
		return record{}, fmt.Errorf("upstream %d of %d", up, n)
	case up == n:
		name, err := readBytes(r, nil)
		if err != nil {
			return record{}, err
		}
		*upstreams = append(*upstreams, into.upstreamID(string(name)))
	}
	var ms [2]uint64 // age and lifetime
	for i := range ms {
		if ms[i], err = binary.ReadUvarint(r); err != nil {
			return record{}, noEOF(err)
		}
		if ms[i] > persistMaxMillis {
			return record{}, fmt.Errorf("time %dms out of range", ms[i])
		}
	}
	// The store copies the wire: one buffer serves every record.
	wire, err := readBytes(r, *buf)
	*buf = wire
	if err != nil {
		return record{}, err
	}
	packed, err := indexPacked(wire)
	if err != nil {
		return record{}, err
	}
	return record{wire: wire, qnameEnd: packed.qnameEnd, do: flags&1 != 0, upstream: (*upstreams)[up],
		stored: time.Duration(ms[0]) * time.Millisecond, expires: time.Duration(ms[1]) * time.Millisecond}, nil
}

// readBytes reads a length-prefixed byte string of at most dns.MaxMsgSize,
// into buf when it has room.
func readBytes(r *bufio.Reader, buf []byte) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, noEOF(err)
	}
	if n > dns.MaxMsgSize {
		return nil, fmt.Errorf("length %d", n)
	}
	b := slices.Grow(buf[:0], int(n))[:n]
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, noEOF(err)
	}
	return b, nil
}

// noEOF says that a file ended early: a clean EOF there is a truncation.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
