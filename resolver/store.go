package resolver

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dnsward/dnsward/internal/offheap"
)

// store holds every cache entry as a packed record, in chunks mapped off
// the Go heap (offheap): the garbage collector neither scans them nor
// counts them towards its target, which would let the heap grow to twice
// the cache. A name costs its record (about 80 bytes for an A answer) and
// a word of the shard's index. The cache's recently used entries sit
// unpacked in front of it (entryList).
//
// Each shard appends its records to a ring of chunks; storing a key again
// appends a new record and leaves the old one dead. When the store holds
// more than the cache's size, the oldest records of the shard stored to go
// first; a record recalled from the older half of the ring is moved to the
// head, so the order is close to least recently used. Once live records
// fill less than half of a shard's ring, the oldest chunk's live records
// are moved to the head and the chunk is returned to the kernel.
type store struct {
	seed   maphash.Seed
	shards []storeShard
	shift  uint // a hash's top bits above it pick its shard
	// size bounds count, the records held in all shards together: the
	// shard a record goes to evicts its own oldest beyond it.
	size  int
	count atomic.Int64

	// upstreams names the upstreams records point at by number, so that
	// a record keeps two bytes instead of a string.
	upMu      sync.Mutex
	upstreams []string
	upIDs     map[string]uint16
}

const (
	// maxShards split a large store, each shard behind a lock of its own;
	// a small store is one shard, whose oldest record is the store's.
	maxShards   = 16
	minPerShard = 4096
	chunkBits   = 20
	chunkSize   = 1 << chunkBits
	// maxChunks is how many chunks a shard can number in a record's
	// place, which keeps the chunk in its top bits.
	maxChunks = 1 << (32 - chunkBits)
	// recordHead is a record's header: its length, upstream, flags, the
	// end of the question's name in its wire, and its stored and expiry
	// times.
	recordHead = 24
)

// storeKey is what a record is stored under: its question's name as
// packed, type and class, and whether DNSSEC records were asked for.
type storeKey struct {
	name          []byte
	qtype, qclass uint16
	do            bool
}

// keyOf is the key of wire, a message as packAnswer packs it, whose
// question's name ends at qnameEnd.
func keyOf(wire []byte, qnameEnd uint16, do bool) storeKey {
	q := wire[qnameEnd:]
	return storeKey{wire[12:qnameEnd], binary.BigEndian.Uint16(q), binary.BigEndian.Uint16(q[2:]), do}
}

// record is one entry of the store. Its wire points into a chunk while the
// shard's lock is held, and is copied before it is let go.
type record struct {
	wire            []byte // as packAnswer packs it
	qnameEnd        uint16
	do              bool
	upstream        uint16
	stored, expires time.Duration // on the cache's clock
}

func (r *record) size() int { return recordHead + len(r.wire) }

// key is what the record is stored under.
func (r *record) key() storeKey { return keyOf(r.wire, r.qnameEnd, r.do) }

func (r *record) encode(dst []byte) {
	le := binary.LittleEndian
	le.PutUint16(dst, uint16(r.size()))
	le.PutUint16(dst[2:], r.upstream)
	dst[4], dst[5] = byte(btoi(r.do)), 0
	le.PutUint16(dst[6:], r.qnameEnd)
	le.PutUint64(dst[8:], uint64(r.stored))
	le.PutUint64(dst[16:], uint64(r.expires))
	copy(dst[recordHead:], r.wire)
}

func decodeRecord(src []byte) record {
	le := binary.LittleEndian
	n := int(le.Uint16(src))
	return record{
		wire:     src[recordHead:n:n],
		upstream: le.Uint16(src[2:]),
		do:       src[4]&1 != 0,
		qnameEnd: le.Uint16(src[6:]),
		stored:   time.Duration(le.Uint64(src[8:])),
		expires:  time.Duration(le.Uint64(src[16:])),
	}
}

type storeShard struct {
	mu sync.Mutex
	// index finds a record's place (its chunk's number above its offset)
	// by its key's hash. Two keys of one hash keep only the later.
	index  map[uint64]uint32
	chunks [][]byte // by number
	seq    []uint64 // by number: when the chunk joined the ring
	ring   []uint32 // chunk numbers, oldest first
	free   []uint32
	// tail is the oldest record's offset in ring[0], head where the next
	// record goes in the last chunk of the ring.
	tail, head int
	nextSeq    uint64
	liveBytes  int // of live records
	closed     bool
	_          [64]byte // keeps neighbouring shards' locks off one cache line
}

func newStore(size int) *store {
	n := 1
	for n < maxShards && size/(2*n) >= minPerShard {
		n *= 2
	}
	s := &store{seed: maphash.MakeSeed(), shards: make([]storeShard, n), shift: uint(64 - bits.TrailingZeros(uint(n))),
		size: size, upstreams: []string{""}, upIDs: map[string]uint16{"": 0}}
	for i := range s.shards {
		s.shards[i].index = map[uint64]uint32{}
	}
	return s
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// hash mixes the key's parts; its top bits pick the shard.
func (s *store) hash(k storeKey) uint64 {
	x := uint64(k.qtype)<<17 | uint64(k.qclass)<<1 | uint64(btoi(k.do))
	hi, lo := bits.Mul64(maphash.Bytes(s.seed, k.name)^x, 0x9e3779b97f4a7c15)
	return hi ^ lo
}

// lock finds k's hash and shard, and locks the shard.
func (s *store) lock(k storeKey) (*storeShard, uint64) {
	h := s.hash(k)
	sh := &s.shards[h>>s.shift]
	sh.mu.Lock()
	return sh, h
}

// upstreamID numbers an upstream's name; past the numbers a record can
// hold, the entry is kept without it.
func (s *store) upstreamID(name string) uint16 {
	s.upMu.Lock()
	defer s.upMu.Unlock()
	id, ok := s.upIDs[name]
	if !ok && len(s.upstreams) <= 0xFFFF {
		id = uint16(len(s.upstreams))
		s.upIDs[name] = id
		s.upstreams = append(s.upstreams, name)
	}
	return id
}

func (s *store) upstreamName(id uint16) string {
	s.upMu.Lock()
	defer s.upMu.Unlock()
	return s.upstreams[id]
}

// put stores r, replacing the record of its key, and evicts the shard's
// oldest records while the store holds more than its size. A record that
// finds no memory, or is too long for its 16-bit length (a message within
// 24 bytes of DNS's 64 KiB), is not stored: the cache then forgets the
// answer sooner.
func (s *store) put(r record) {
	if r.size() > math.MaxUint16 {
		return
	}
	sh, h := s.lock(r.key())
	defer sh.mu.Unlock()
	n := len(sh.index)
	if sh.closed || !sh.append(h, &r) {
		return
	}
	s.count.Add(int64(len(sh.index) - n))
	// The record just stored is kept even when its shard holds no other.
	for s.count.Load() > int64(s.size) && len(sh.index) > 1 {
		sh.evictOldest(s)
	}
	sh.compact(s)
}

// get returns the record of the key and a copy of its wire, moving the
// record to the head when it is in the older half of its shard's ring.
func (s *store) get(k storeKey) (record, bool) {
	sh, h := s.lock(k)
	defer sh.mu.Unlock()
	pos, r, ok := sh.find(h, k)
	if !ok {
		return record{}, false
	}
	out := r
	out.wire = bytes.Clone(r.wire)
	sh.refresh(h, pos, &r)
	return out, true
}

// touch counts as a use of the record of the key, as get does.
func (s *store) touch(k storeKey) {
	sh, h := s.lock(k)
	defer sh.mu.Unlock()
	if pos, r, ok := sh.find(h, k); ok {
		sh.refresh(h, pos, &r)
	}
}

// remove drops the record of the key, if there is one.
func (s *store) remove(k storeKey) {
	sh, h := s.lock(k)
	defer sh.mu.Unlock()
	if _, r, ok := sh.find(h, k); ok {
		sh.drop(s, h, &r)
	}
}

// len is how many records are held.
func (s *store) len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += len(sh.index)
		sh.mu.Unlock()
	}
	return n
}

// each calls f with every live record, shard by shard, each shard's from
// the oldest; r.wire is valid only during the call. r is passed by value:
// a pointer to it made a heap copy of every record.
func (s *store) each(f func(r record)) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for j := range sh.ring {
			off := 0
			if j == 0 {
				off = sh.tail
			}
			for {
				pos, r, ok := sh.recordAt(j, off)
				if !ok {
					break
				}
				if _, live := sh.live(s, pos, &r); live {
					f(r)
				}
				off += r.size()
			}
		}
		sh.mu.Unlock()
	}
}

// Close returns the chunks to the kernel; the store holds nothing after.
func (s *store) Close() error {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for _, c := range sh.chunks {
			_ = offheap.Unmap(c)
		}
		s.count.Add(-int64(len(sh.index)))
		sh.index, sh.chunks, sh.seq, sh.ring, sh.free = nil, nil, nil, nil, nil
		sh.liveBytes, sh.closed = 0, true
		sh.mu.Unlock()
	}
	return nil
}

// find returns the record of k, whose hash is h, and its place.
func (sh *storeShard) find(h uint64, k storeKey) (uint32, record, bool) {
	pos, ok := sh.index[h]
	if !ok {
		return 0, record{}, false
	}
	r := sh.at(pos)
	if got := r.key(); !bytes.Equal(got.name, k.name) || got.qtype != k.qtype || got.qclass != k.qclass || got.do != k.do {
		return 0, record{}, false
	}
	return pos, r, true
}

func (sh *storeShard) at(pos uint32) record {
	return decodeRecord(sh.chunks[pos>>chunkBits][pos&(chunkSize-1):])
}

// recordAt returns the record at off in the ring's chunk j and its place,
// or false past the chunk's last record.
func (sh *storeShard) recordAt(j, off int) (uint32, record, bool) {
	end := chunkSize
	if j == len(sh.ring)-1 {
		end = sh.head
	}
	c := sh.chunks[sh.ring[j]]
	if off+2 > end || binary.LittleEndian.Uint16(c[off:]) == 0 {
		return 0, record{}, false
	}
	return sh.ring[j]<<chunkBits | uint32(off), decodeRecord(c[off:]), true
}

// live returns the hash of r's key, and whether r, at pos, is the record
// the key finds.
func (sh *storeShard) live(s *store, pos uint32, r *record) (uint64, bool) {
	h := s.hash(r.key())
	got, ok := sh.index[h]
	return h, ok && got == pos
}

// drop forgets r, the live record of h.
func (sh *storeShard) drop(s *store, h uint64, r *record) {
	delete(sh.index, h)
	sh.liveBytes -= r.size()
	s.count.Add(-1)
}

// old says whether pos is in the older half of the ring's bytes.
func (sh *storeShard) old(pos uint32) bool {
	at := sh.seq[pos>>chunkBits]<<chunkBits + uint64(pos&(chunkSize-1))
	tail := sh.seq[sh.ring[0]]<<chunkBits + uint64(sh.tail)
	head := sh.seq[sh.ring[len(sh.ring)-1]]<<chunkBits + uint64(sh.head)
	return at < tail+(head-tail)/2
}

// refresh moves the record r of h at pos to the head when it is in the
// older half of the ring, so that the records in use are evicted last.
func (sh *storeShard) refresh(h uint64, pos uint32, r *record) {
	if sh.old(pos) {
		sh.append(h, r)
	}
}

// append writes r at the head as the record of h, or reports false when
// no chunk could be had for it.
func (sh *storeShard) append(h uint64, r *record) bool {
	n := r.size()
	if len(sh.ring) == 0 || sh.head+n > chunkSize {
		if len(sh.ring) > 0 && sh.head+2 <= chunkSize {
			// A zero length ends the chunk's records.
			binary.LittleEndian.PutUint16(sh.chunks[sh.ring[len(sh.ring)-1]][sh.head:], 0)
		}
		if !sh.grow() {
			return false
		}
	}
	id := sh.ring[len(sh.ring)-1]
	r.encode(sh.chunks[id][sh.head:])
	if old, ok := sh.index[h]; ok {
		sh.liveBytes -= int(binary.LittleEndian.Uint16(sh.chunks[old>>chunkBits][old&(chunkSize-1):]))
	}
	sh.index[h] = id<<chunkBits | uint32(sh.head)
	sh.liveBytes += n
	sh.head += n
	return true
}

// grow adds a chunk to the ring's head, from the free list or the kernel.
func (sh *storeShard) grow() bool {
	var id uint32
	if n := len(sh.free); n > 0 {
		id, sh.free = sh.free[n-1], sh.free[:n-1]
	} else {
		if len(sh.chunks) >= maxChunks {
			return false
		}
		c, err := offheap.Map[byte](chunkSize)
		if err != nil {
			return false
		}
		id = uint32(len(sh.chunks))
		sh.chunks, sh.seq = append(sh.chunks, c), append(sh.seq, 0)
	}
	if len(sh.ring) == 0 {
		sh.tail = 0
	}
	sh.seq[id] = sh.nextSeq
	sh.nextSeq++
	sh.ring = append(sh.ring, id)
	sh.head = 0
	return true
}

// oldest returns the record at the tail and its place, or false when the
// tail's chunk holds no more (or the ring is empty).
func (sh *storeShard) oldest() (uint32, record, bool) {
	if len(sh.ring) == 0 {
		return 0, record{}, false
	}
	return sh.recordAt(0, sh.tail)
}

// dropTail returns the tail's chunk, all of whose records are gone or
// moved, to the free list, and its pages to the kernel.
func (sh *storeShard) dropTail() {
	id := sh.ring[0]
	sh.ring = sh.ring[1:]
	sh.free = append(sh.free, id)
	sh.tail = 0
	// Its pages are given back now, rather than kept while it waits.
	_ = offheap.Release(sh.chunks[id])
}

// evictOldest drops the oldest live record.
func (sh *storeShard) evictOldest(s *store) {
	for len(sh.ring) > 0 {
		pos, r, ok := sh.oldest()
		if !ok {
			if len(sh.ring) == 1 {
				return
			}
			sh.dropTail()
			continue
		}
		sh.tail += r.size()
		if h, live := sh.live(s, pos, &r); live {
			sh.drop(s, h, &r)
			return
		}
	}
}

// compact moves the live records of the oldest chunks to the head while
// live records fill less than half of the ring.
func (sh *storeShard) compact(s *store) {
	for len(sh.ring) > 2 && 2*sh.liveBytes < len(sh.ring)*chunkSize {
		for {
			pos, r, ok := sh.oldest()
			if !ok {
				sh.dropTail()
				break
			}
			sh.tail += r.size()
			if h, live := sh.live(s, pos, &r); live && !sh.append(h, &r) {
				// No room to move it to: it goes, as if evicted.
				sh.drop(s, h, &r)
			}
		}
	}
}
