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
// (BenchmarkLookup). An entry costs about 125 bytes, 140 when each entry
// has an address of its own (names and CNAME chains interned,
// BenchmarkMemoryPerEntry). It is not persisted across restarts.
package answers

import (
	"cmp"
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
	"unique"
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
	return ix
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
	name := strings.ToLower(a.Name)
	ob.nameHash = nameHash(ix.seed, name)
	ob.name = name
	// The name's handle is left out: a repeat finds its entry by the
	// name's text, and only a new entry pays for interning it.
	k := key{client: a.Client.As16(), mac: a.Device.MAC}
	for _, addr := range addrs {
		k.addr = addr.As16()
		ix.shard(k.addr).observe(&k, &ob)
	}
}

// Lookup returns the entries of the names client was given for addr that
// were valid at at, that is FirstAsked <= at <= ValidUntil; the zero at
// means every entry still held. It visits only addr's entries.
func (ix *Index) Lookup(client, addr netip.Addr, at time.Time) []Entry {
	c := client.As16()
	return ix.find(addr, at, func(k *key) bool { return k.client == c })
}

// Who returns every client's entries for addr valid at at, as Lookup.
func (ix *Index) Who(addr netip.Addr, at time.Time) []Entry {
	return ix.find(addr, at, func(*key) bool { return true })
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
	return st
}

// find returns the entries of addr valid at at (any when zero) whose key
// matches, ordered by client, name, then first answer.
func (ix *Index) find(addr netip.Addr, at time.Time, match func(*key) bool) []Entry {
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
		if match(&sl.key) && (at.IsZero() || sl.first <= t && t <= sl.valid) {
			out = append(out, sl.entry())
		}
	}
	s.mu.Unlock()
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

// key identifies an entry. Addresses are As16, which maps IPv4 and drops zones;
// the device's MAC is part of it, so that an address DHCP hands to another
// machine starts new entries instead of rewriting the old machine's.
type key struct {
	client, addr [16]byte
	name         unique.Handle[string]
	mac          MAC
}

// observation is an Answer prepared once for all of its addresses.
type observation struct {
	chain     []string
	chainH    unique.Handle[link] // interned on first need
	chainDone bool
	host      string
	name      string // lowercased; interned only for a new entry
	nameHash  uint64
	at, valid int64 // Unix nanoseconds
}

// chainHandle interns the chain, once per observation.
func (ob *observation) chainHandle() unique.Handle[link] {
	if !ob.chainDone {
		ob.chainH, ob.chainDone = internChain(ob.chain), true
	}
	return ob.chainH
}

// link is one name of an interned CNAME chain and the rest of it: chains
// shared by a million entries are stored once, and comparing an entry's
// chain with a repeat answer's needs no allocation.
type link struct {
	name unique.Handle[string]
	rest unique.Handle[link]
}

func internChain(chain []string) unique.Handle[link] {
	var h unique.Handle[link]
	for i := len(chain) - 1; i >= 0; i-- {
		h = unique.Make(link{name: unique.Make(strings.ToLower(chain[i])), rest: h})
	}
	return h
}

// chainEqual reports whether h holds chain, ignoring case.
func chainEqual(h unique.Handle[link], chain []string) bool {
	for _, name := range chain {
		if h == (unique.Handle[link]{}) {
			return false
		}
		l := h.Value()
		if !strings.EqualFold(l.name.Value(), name) {
			return false
		}
		h = l.rest
	}
	return h == unique.Handle[link]{}
}

func chainNames(h unique.Handle[link]) []string {
	var out []string
	for h != (unique.Handle[link]{}) {
		l := h.Value()
		out = append(out, l.name.Value())
		h = l.rest
	}
	return out
}

// slot holds one entry. Slots are linked by index, which costs 4 bytes
// a link where a pointer would cost 8: from most to least recently
// answered, and among the slots of one address (in no order), so that a
// query for an address visits its entries and no others.
type slot struct {
	key                key
	chain              unique.Handle[link]
	host               unique.Handle[string] // zero when unknown
	first, last, valid int64                 // Unix nanoseconds
	prev, next         int32                 // recency list; none is -1
	addrPrev, addrNext int32                 // the address's slots; none is -1
}

func (sl *slot) entry() Entry {
	e := Entry{
		Client:     netip.AddrFrom16(sl.key.client).Unmap(),
		Device:     Device{MAC: sl.key.mac},
		Name:       sl.key.name.Value(),
		Chain:      chainNames(sl.chain),
		FirstAsked: time.Unix(0, sl.first),
		LastAsked:  time.Unix(0, sl.last),
		ValidUntil: time.Unix(0, sl.valid),
	}
	if sl.host != (unique.Handle[string]{}) {
		e.Device.Host = sl.host.Value()
	}
	return e
}

// setSource records the chain and host of the answer ob.
func (sl *slot) setSource(ob *observation) {
	if !chainEqual(sl.chain, ob.chain) {
		sl.chain = ob.chainHandle()
	}
	switch {
	case ob.host == "":
		sl.host = unique.Handle[string]{}
	case sl.host == (unique.Handle[string]{}) || sl.host.Value() != ob.host:
		sl.host = unique.Make(ob.host)
	}
}

type shard struct {
	mu         sync.Mutex
	table      table // every slot, by key
	addrs      table // the first slot of each address's list, by address
	slots      []slot
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
}

func (s *shard) observe(k *key, ob *observation) {
	h := k.hash(ob.nameHash)
	s.mu.Lock()
	defer s.mu.Unlock()
	cell, i := s.findKey(k, ob.name, h)
	if i >= 0 {
		sl := &s.slots[i]
		sl.first = min(sl.first, ob.at)
		sl.valid = max(sl.valid, ob.valid)
		if ob.at >= sl.last {
			sl.last = ob.at
			sl.setSource(ob)
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
		cell, _ = s.findKey(k, ob.name, h)
	}
	k.name = unique.Make(ob.name)
	s.slots[i] = slot{key: *k, first: ob.at, last: ob.at, valid: ob.valid}
	s.slots[i].setSource(ob)
	s.table.insert(cell, h, i)
	s.pushFront(i)
	s.linkAddr(i)
}

// findKey returns the table cell holding the entry of k (whose name
// handle is not set) and name, whose hash is h, and its slot, as
// table.find.
func (s *shard) findKey(k *key, name string, h uint32) (cell int, slot int32) {
	return s.table.find(h, func(i int32) bool {
		sk := &s.slots[i].key
		return sk.client == k.client && sk.addr == k.addr && sk.mac == k.mac && sk.name.Value() == name
	})
}

// findAddr returns addr's hash, the cell holding the first slot of its
// list and that slot, as table.find.
func (s *shard) findAddr(addr *[16]byte) (h uint32, cell int, head int32) {
	h = addrHash(s.secret, addr)
	cell, head = s.addrs.find(h, func(i int32) bool { return s.slots[i].key.addr == *addr })
	return h, cell, head
}

// evict takes slot i's entry out of the table and both lists.
func (s *shard) evict(i int32) {
	k := &s.slots[i].key
	isI := func(j int32) bool { return j == i }
	cell, _ := s.table.find(k.hash(nameHash(s.seed, k.name.Value())), isI)
	s.table.remove(cell)
	s.unlink(i)
	sl := &s.slots[i]
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
	s.evicted++
}

// linkAddr puts slot i first in its address's list.
func (s *shard) linkAddr(i int32) {
	sl := &s.slots[i]
	h, cell, head := s.findAddr(&sl.key.addr)
	sl.addrPrev, sl.addrNext = -1, head
	if head < 0 {
		s.addrs.insert(cell, h, i)
		return
	}
	s.slots[head].addrPrev = i
	s.addrs.set(cell, h, i)
}

// alloc appends a slot.
func (s *shard) alloc() int32 {
	n := len(s.slots)
	if n == cap(s.slots) {
		// Grow by doubling but never past max, so a full shard carries
		// no spare capacity.
		grown := make([]slot, n, n+min(max(n, 64), s.max-n))
		copy(grown, s.slots)
		s.slots = grown
	}
	s.slots = s.slots[:n+1]
	return int32(n)
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
