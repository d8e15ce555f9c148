// Package answers is the answer index: which client was given which
// address for which name, and until when. The resolver records every
// answer it gives; firewall-log readers and the control endpoint ask it
// which names stand behind an address.
//
// The index lives in memory only and is bounded: past Options.MaxEntries
// the least recently answered entry goes first (an entry is answered again
// when the same client, on the same device, is given the same address for
// the same name). Entries are not dropped when their answer expires, only
// by that bound, so Who can still answer for last week. From 8,192
// entries the index is split by answer address into up to 64 shards, each
// holding its share of the bound and evicting its own least recently
// answered entry: close to the oldest of the whole index, and exact in an
// index of one shard. Lookup and Who visit only the entries of the address
// asked about, so a full index answers each in well under a microsecond
// (BenchmarkLookup). The index keeps its entries, and their names and
// CNAME chains once each, in memory it maps off the Go heap, which the
// garbage collector neither scans nor doubles: an entry costs about 80
// bytes, 100 when each entry has an address of its own and 140 when each
// also has a name of its own (BenchmarkMemoryPerEntry and the like). It
// is not persisted across restarts.
package answers

import (
	"cmp"
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Defaults for the zero Options fields.
const (
	DefaultMaxEntries = 1_000_000
	DefaultGrace      = 5 * time.Minute
)

// Options size the index.
type Options struct {
	// MaxEntries bounds the entries held; DefaultMaxEntries when zero.
	MaxEntries int
	// Grace is added to each answer's TTL, because clients keep using an
	// address past its TTL; DefaultGrace when zero.
	Grace time.Duration
}

// Answer is one answer given to a client.
type Answer struct {
	// Client is the address that asked.
	Client netip.Addr
	// Device is the client's identity at query time, zero when unknown.
	Device Device
	// Name is the name asked; it is stored lowercased.
	Name string
	// Chain is the answer's CNAME chain, in order, without Name itself.
	Chain []string
	// TTL is the TTL the client was given.
	TTL time.Duration
	// At is when the answer was given.
	At time.Time
}

// Entry is what the index holds for one (client, device, address, name).
type Entry struct {
	// Client is the address that asked.
	Client netip.Addr
	// Device is the client's identity when it last asked.
	Device Device
	// Name is the name asked, lowercased.
	Name string
	// Chain is the CNAME chain of the latest answer.
	Chain []string
	// FirstAsked and LastAsked are the times of the first and latest answer.
	FirstAsked, LastAsked time.Time
	// ValidUntil is the latest answer's time plus its TTL plus the grace.
	ValidUntil time.Time
}

// Index is the answer index. Its methods are safe for concurrent use.
type Index struct {
	// shards split the entries by answer address, each behind its own
	// lock, so that concurrent Observe calls rarely wait for each other
	// and a query for one address visits one shard.
	shards []shard
	shift  uint
	grace  int64
	seed   maphash.Seed
}

// minPerShard keeps small indexes in one shard, where "least recently
// answered out first" is exact rather than per shard.
const (
	minPerShard = 4096
	maxShards   = 64
)

// New returns an empty index.
func New(o Options) *Index {
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	n := 1
	for n < maxShards && o.MaxEntries/(2*n) >= minPerShard {
		n *= 2
	}
	ix := &Index{shards: make([]shard, n), shift: uint(64 - bits.TrailingZeros(uint(n))), grace: int64(o.Grace), seed: maphash.MakeSeed()}
	secret := maphash.String(ix.seed, "addr")
	for i := range ix.shards {
		// The remainder goes to the first shards, so the total is exact.
		ix.shards[i].init(o.MaxEntries/n+btoi(i < o.MaxEntries%n), ix.seed, secret)
	}
	// The shards' memory is mapped off the heap: it goes when the index
	// does. Every method keeps ix alive until it is done with it.
	runtime.AddCleanup(ix, unmapShards, ix.shards)
	return ix
}

func unmapShards(shards []shard) {
	for i := range shards {
		shards[i].unmap()
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Observe records an answer: addrs are its A and AAAA addresses. It is on
// the resolver's hot path: a repeat of a known (client, device, address,
// name) takes one lock and no allocation, and addrs are only read, so a
// caller's buffer for them may stay on its stack. An address is stored
// unmapped, so ::ffff:192.0.2.1 and 192.0.2.1 are one address, as they are
// on the wire to a firewall.
func (ix *Index) Observe(a Answer, addrs ...netip.Addr) {
	if len(addrs) == 0 {
		return
	}
	ob := observation{
		chain: a.Chain,
		host:  a.Device.Host,
		at:    a.At.UnixNano(),
	}
	ob.valid = ob.at + int64(a.TTL) + ix.grace
	name := lower(a.Name)
	ob.nameHash = nameHash(ix.seed, name)
	ob.name = name
	k := key{client: a.Client.As16(), mac: a.Device.MAC}
	for _, addr := range addrs {
		k.addr = addr.As16()
		ix.shard(k.addr).observe(&k, &ob)
	}
	runtime.KeepAlive(ix)
}

// lower is strings.ToLower(s), which it calls only for a name that is not
// lowercase ASCII already: most names are, and checking eight bytes at a
// time takes a fifth of the time strings.ToLower takes to find it out.
func lower(s string) string {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s[i:]), 8))
		// A byte's high bit is set by adding 0x3f from 'A' on, and by
		// adding 0x25 from 'Z'+1 on; a byte past ASCII has it already.
		if (x|(x+0x3f*ones)&^(x+0x25*ones))&highs != 0 {
			return strings.ToLower(s)
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// Lookup returns the entries of the names client was given for addr that
// were valid at at, that is FirstAsked <= at <= ValidUntil; the zero at
// means every entry still held. It visits only addr's entries.
func (ix *Index) Lookup(client, addr netip.Addr, at time.Time) []Entry {
	c := client.As16()
	return ix.find(addr, at, func(w who) bool { return w.client() == c })
}

// Who returns every client's entries for addr valid at at, as Lookup.
func (ix *Index) Who(addr netip.Addr, at time.Time) []Entry {
	return ix.find(addr, at, func(who) bool { return true })
}

// Len is the number of entries held.
func (ix *Index) Len() int { return ix.Stats().Entries }

// Stats are the index's counters, for metrics.
type Stats struct {
	// Entries is the number of entries held.
	Entries int
	// Evicted counts the entries dropped for the bound since New.
	Evicted uint64
}

// Stats returns the index's counters, summed over its shards.
func (ix *Index) Stats() Stats {
	var st Stats
	for i := range ix.shards {
		s := &ix.shards[i]
		s.mu.Lock()
		st.Entries += s.table.used
		st.Evicted += s.evicted
		s.mu.Unlock()
	}
	runtime.KeepAlive(ix)
	return st
}

// offHeap is the memory the index has mapped off the Go heap and
// touched, so resident.
func (ix *Index) offHeap() int {
	n := 0
	for i := range ix.shards {
		s := &ix.shards[i]
		s.mu.Lock()
		n += pagesOf[slot](len(s.slots)) + pagesOf[uint64](len(s.table.cells)) + pagesOf[uint64](len(s.addrs.cells)) + s.strs.bytes()
		s.mu.Unlock()
	}
	runtime.KeepAlive(ix)
	return n
}

// find returns the entries of addr valid at at (any when zero) whose
// client and device match, ordered by client, name, then first answer.
func (ix *Index) find(addr netip.Addr, at time.Time, match func(who) bool) []Entry {
	a := addr.As16()
	s := ix.shard(a)
	t := at.UnixNano()
	var out []Entry
	s.mu.Lock()
	_, _, head := s.findAddr(&a)
	for i := head; i >= 0; i = s.slots[i].addrNext {
		sl := &s.slots[i]
		// One window from the first answer to the last one's end: a
		// gap between two answers of an entry is not remembered.
		if (at.IsZero() || sl.first <= t && t <= sl.valid) && match(who(s.strs.view(sl.who))) {
			out = append(out, s.entry(sl))
		}
	}
	s.mu.Unlock()
	runtime.KeepAlive(ix)
	slices.SortFunc(out, func(x, y Entry) int {
		return cmp.Or(x.Client.Compare(y.Client), strings.Compare(x.Name, y.Name), x.FirstAsked.Compare(y.FirstAsked))
	})
	return out
}

// shard picks addr's shard by a multiplicative hash of its 16 bytes.
func (ix *Index) shard(addr [16]byte) *shard {
	h := binary.LittleEndian.Uint64(addr[:8]) ^ bits.RotateLeft64(binary.LittleEndian.Uint64(addr[8:]), 29)
	return &ix.shards[(h*0x9e3779b97f4a7c15)>>ix.shift&uint64(len(ix.shards)-1)]
}

// key identifies an entry with the entry's name. Addresses are As16,
// which maps IPv4 and drops zones; the device's MAC is part of it, so
// that an address DHCP hands to another machine starts new entries
// instead of rewriting the old machine's.
type key struct {
	client, addr [16]byte
	mac          MAC
}

// observation is an Answer prepared once for all of its addresses.
type observation struct {
	chain     []string
	host      string
	name      string // lowercased
	nameHash  uint64
	at, valid int64 // Unix nanoseconds
}

// slot holds one entry, and no pointers: its strings are two records in
// the shard's store, who and text (see who and splitText). Slots are
// linked by index: from most to least recently answered, and among the
// slots of one address (in no order), so that a query for an address
// visits its entries and no others.
type slot struct {
	addr               [16]byte
	who, text          uint32
	first, last, valid int64 // Unix nanoseconds
	prev, next         int32 // recency list; none is -1
	addrPrev, addrNext int32 // the address's slots; none is -1
}

// who is a view of a slot's who record: the client's address (16 bytes),
// its device's MAC (6), then the device's host name, which changes too
// seldom to be worth a record of its own.
type who string

func (w who) client() (c [16]byte) { return *(*[16]byte)(unsafe.Pointer(unsafe.StringData(string(w)))) }

func (w who) mac() MAC { return *(*MAC)(unsafe.Add(unsafe.Pointer(unsafe.StringData(string(w))), 16)) }

func (w who) host() string { return string(w[16+len(MAC{}):]) }

// is reports whether w is k's client and device.
func (w who) is(k *key) bool { return w.client() == k.client && w.mac() == k.mac }

// splitText splits a slot's text record: the name (its length, then it),
// then the CNAME chain (each name's length, then it, lowercased); a
// name's entries share the record while their chains agree.
func splitText(text string) (name, chain string) {
	n, w := readLen(text)
	return text[w : w+n], text[w+n:]
}

// encodeWho is the who record of k and ob's host, in the shard's buffer.
func (s *shard) encodeWho(k *key, ob *observation) []byte {
	s.buf = append(append(append(s.buf[:0], k.client[:]...), k.mac[:]...), ob.host...)
	return s.buf
}

// encodeText is the text record of ob, in the shard's buffer.
func (s *shard) encodeText(ob *observation) []byte {
	b := append(appendLen(s.buf[:0], len(ob.name)), ob.name...)
	for _, name := range ob.chain {
		name = strings.ToLower(name)
		b = append(appendLen(b, len(name)), name...)
	}
	s.buf = b
	return b
}

type shard struct {
	mu    sync.Mutex
	table table // every slot, by key
	addrs table // the first slot of each address's list, by address
	strs  store
	// slots is mapped for max slots when the first is taken, so it never
	// grows or moves; only the pages of slots taken are resident.
	slots      []slot
	buf        []byte // where records are encoded for the store
	max        int
	head, tail int32 // most and least recently answered; none is -1
	evicted    uint64
	seed       maphash.Seed
	secret     uint64   // for addrHash
	_          [64]byte // keeps neighbouring shards' locks off one cache line
}

func (s *shard) init(max int, seed maphash.Seed, secret uint64) {
	s.max = max
	s.head, s.tail = -1, -1
	s.seed = seed
	s.secret = secret
	s.table.planned, s.addrs.planned, s.strs.table.planned = max, max, max
	s.strs.seed = seed
}

// unmap frees the shard's mappings, once its index is unreachable.
func (s *shard) unmap() {
	unmapSlice(s.slots)
	s.slots = nil
	s.table.unmap()
	s.addrs.unmap()
	s.strs.unmap()
}

func (s *shard) observe(k *key, ob *observation) {
	h := k.hash(ob.nameHash)
	s.mu.Lock()
	defer s.mu.Unlock()
	cell, i, host, chain := s.findKey(k, ob.name, h)
	if i >= 0 {
		sl := &s.slots[i]
		sl.first = min(sl.first, ob.at)
		sl.valid = max(sl.valid, ob.valid)
		if ob.at >= sl.last {
			sl.last = ob.at
			s.setSource(sl, k, ob, host, chain)
		}
		if s.head != i {
			s.unlink(i)
			s.pushFront(i)
		}
		return
	}
	if len(s.slots) < s.max {
		i = s.alloc()
	} else {
		// Reuse the least recently answered entry's slot.
		i = s.tail
		s.evict(i)
		// The removal may have shifted cells: look for k's again.
		cell, _, _, _ = s.findKey(k, ob.name, h)
	}
	sl := &s.slots[i]
	*sl = slot{addr: k.addr, first: ob.at, last: ob.at, valid: ob.valid}
	sl.who = s.strs.intern(s.encodeWho(k, ob))
	sl.text = s.strs.intern(s.encodeText(ob))
	s.table.insert(cell, h, i)
	s.pushFront(i)
	s.linkAddr(i)
}

// findKey returns the table cell holding the entry of k and name, whose
// hash is h, and its slot, as table.find, and the slot's host and chain
// (views, see store.view) for setSource.
func (s *shard) findKey(k *key, name string, h uint32) (cell int, slot int32, host, chain string) {
	cell, slot = s.table.find(h, func(i int32) bool {
		sl := &s.slots[i]
		if sl.addr != k.addr {
			return false
		}
		w := who(s.strs.view(sl.who))
		var sn string
		sn, chain = splitText(s.strs.view(sl.text))
		host = w.host()
		return w.is(k) && sn == name
	})
	return cell, slot, host, chain
}

// findAddr returns addr's hash, the cell holding the first slot of its
// list and that slot, as table.find.
func (s *shard) findAddr(addr *[16]byte) (h uint32, cell int, head int32) {
	h = addrHash(s.secret, addr)
	cell, head = s.addrs.find(h, func(i int32) bool { return s.slots[i].addr == *addr })
	return h, cell, head
}

// evict takes slot i's entry out of the table and both lists, and
// releases its strings.
func (s *shard) evict(i int32) {
	sl := &s.slots[i]
	w := who(s.strs.view(sl.who))
	k := key{client: w.client(), addr: sl.addr, mac: w.mac()}
	isI := func(j int32) bool { return j == i }
	name, _ := splitText(s.strs.view(sl.text))
	cell, _ := s.table.find(k.hash(nameHash(s.seed, name)), isI)
	s.table.remove(cell)
	s.unlink(i)
	if sl.addrNext >= 0 {
		s.slots[sl.addrNext].addrPrev = sl.addrPrev
	}
	if sl.addrPrev >= 0 {
		s.slots[sl.addrPrev].addrNext = sl.addrNext
	} else {
		// i heads its address's list: the next slot takes its cell.
		h := addrHash(s.secret, &k.addr)
		cell, _ := s.addrs.find(h, isI)
		if sl.addrNext >= 0 {
			s.addrs.set(cell, h, sl.addrNext)
		} else {
			s.addrs.remove(cell)
		}
	}
	s.strs.release(sl.who)
	s.strs.release(sl.text)
	s.evicted++
}

// linkAddr puts slot i first in its address's list.
func (s *shard) linkAddr(i int32) {
	sl := &s.slots[i]
	h, cell, head := s.findAddr(&sl.addr)
	sl.addrPrev, sl.addrNext = -1, head
	if head < 0 {
		s.addrs.insert(cell, h, i)
		return
	}
	s.slots[head].addrPrev = i
	s.addrs.set(cell, h, i)
}

// alloc takes a slot.
func (s *shard) alloc() int32 {
	if s.slots == nil {
		s.slots = mapSlice[slot](s.max)[:0]
	}
	n := len(s.slots)
	s.slots = s.slots[:n+1]
	return int32(n)
}

// entry is slot sl's entry, its strings copied out of the store (the
// name and chain in one copy).
func (s *shard) entry(sl *slot) Entry {
	w := who(s.strs.view(sl.who))
	name, chain := splitText(strings.Clone(s.strs.view(sl.text)))
	e := Entry{
		Client:     netip.AddrFrom16(w.client()).Unmap(),
		Device:     Device{MAC: w.mac(), Host: strings.Clone(w.host())},
		Name:       name,
		FirstAsked: time.Unix(0, sl.first),
		LastAsked:  time.Unix(0, sl.last),
		ValidUntil: time.Unix(0, sl.valid),
	}
	for chain != "" {
		n, width := readLen(chain)
		e.Chain = append(e.Chain, chain[width:width+n])
		chain = chain[width+n:]
	}
	return e
}

// setSource records in sl, k's slot, the host and chain of the answer
// ob, where sl holds host and chain.
func (s *shard) setSource(sl *slot, k *key, ob *observation, host, chain string) {
	// Most answers are for names without a CNAME: no call for them.
	chainSame := chain == "" && len(ob.chain) == 0 || chainEqual(chain, ob.chain)
	if host != ob.host {
		s.strs.replace(&sl.who, s.encodeWho(k, ob))
	}
	if !chainSame {
		s.strs.replace(&sl.text, s.encodeText(ob))
	}
}

// chainEqual reports whether the encoded chain c is chain, ignoring case.
func chainEqual(c string, chain []string) bool {
	for _, name := range chain {
		if c == "" {
			return false
		}
		n, w := readLen(c)
		if !strings.EqualFold(c[w:w+n], name) {
			return false
		}
		c = c[w+n:]
	}
	return c == ""
}

func (s *shard) unlink(i int32) {
	sl := &s.slots[i]
	if sl.prev >= 0 {
		s.slots[sl.prev].next = sl.next
	} else {
		s.head = sl.next
	}
	if sl.next >= 0 {
		s.slots[sl.next].prev = sl.prev
	} else {
		s.tail = sl.prev
	}
}

func (s *shard) pushFront(i int32) {
	sl := &s.slots[i]
	sl.prev, sl.next = -1, s.head
	if s.head >= 0 {
		s.slots[s.head].prev = i
	} else {
		s.tail = i
	}
	s.head = i
}
