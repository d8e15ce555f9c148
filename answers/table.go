package answers

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
)

// table finds a shard's slot (or a store's record) by a hash and a match
// with open addressing and linear probing over the slots themselves, so
// each key is stored once: a Go map would hold a second copy of the key
// for every entry. A cell is a hash (its home cell and a cheap filter
// before the match) above the slot index plus one; zero is an empty cell.
// The cells are mapped off the heap, at most three quarters used, and a
// hash's home is found by multiplication rather than a mask, so the table
// need not be a power of two in size: it grows by half, and at most to
// what planned slots need, which keeps it between one half and three
// quarters full.
type table struct {
	cells   []uint64
	used    int
	planned int // the slots the table expects to hold at most
}

// minCells is one page of cells.
const minCells = pageSize / 8

// home is the cell where probing for hash h starts.
func (t *table) home(h uint32) int { return int(uint64(h) * uint64(len(t.cells)) >> 32) }

// find returns the cell holding a slot with hash h that matches, and the
// slot, or the empty cell where one would go and slot -1.
func (t *table) find(h uint32, match func(slot int32) bool) (cell int, slot int32) {
	if t.cells == nil {
		t.cells = mapSlice[uint64](minCells)
	}
	for i := t.home(h); ; {
		c := t.cells[i]
		if c == 0 {
			return i, -1
		}
		if uint32(c>>32) == h && match(int32(uint32(c)-1)) {
			return i, int32(uint32(c) - 1)
		}
		i = t.next(i)
	}
}

// next is the cell probing visits after cell i.
func (t *table) next(i int) int {
	if i++; i == len(t.cells) {
		return 0
	}
	return i
}

// set points the cell find returned for hash h at another slot.
func (t *table) set(cell int, h uint32, slot int32) {
	t.cells[cell] = uint64(h)<<32 | uint64(slot+1)
}

// insert puts slot in the empty cell find returned for hash h.
func (t *table) insert(cell int, h uint32, slot int32) {
	t.set(cell, h, slot)
	t.used++
	if 4*t.used > 3*len(t.cells) {
		t.grow()
	}
}

func (t *table) grow() {
	old := t.cells
	n := len(old) + len(old)/2
	if fit := t.planned*4/3 + 1; len(old) < fit {
		n = min(n, fit)
	}
	t.cells = mapSlice[uint64]((n + minCells - 1) / minCells * minCells)
	for _, c := range old {
		if c == 0 {
			continue
		}
		i := t.home(uint32(c >> 32))
		for t.cells[i] != 0 {
			i = t.next(i)
		}
		t.cells[i] = c
	}
	unmapSlice(old)
}

// remove empties cell, shifting back the cells after it that probing
// would otherwise no longer reach (no tombstones to clean up later).
func (t *table) remove(cell int) {
	n := len(t.cells)
	// dist is how far probing goes from cell a to reach cell b.
	dist := func(a, b int) int {
		if b < a {
			return b + n - a
		}
		return b - a
	}
	t.cells[cell] = 0
	t.used--
	for j := t.next(cell); t.cells[j] != 0; j = t.next(j) {
		// The cell at j may fill the hole unless its home lies after
		// the hole, on the way to j.
		if dist(t.home(uint32(t.cells[j]>>32)), j) >= dist(cell, j) {
			t.cells[cell], t.cells[j] = t.cells[j], 0
			cell = j
		}
	}
}

// unmap frees the cells, leaving an empty table.
func (t *table) unmap() {
	unmapSlice(t.cells)
	t.cells, t.used = nil, 0
}

// hash mixes a key's fields with the hash of its name (computed once per
// Observe, for all of an answer's addresses) into the 32 bits a cell keeps.
func (k *key) hash(name uint64) uint32 {
	le := binary.LittleEndian
	mac := uint64(k.mac[0]) | uint64(k.mac[1])<<8 | uint64(k.mac[2])<<16 | uint64(k.mac[3])<<24 | uint64(k.mac[4])<<32 | uint64(k.mac[5])<<40
	h := mum(le.Uint64(k.client[:8])^0xa0761d6478bd642f, le.Uint64(k.client[8:])^0xe7037ed1a0b428db) ^
		mum(le.Uint64(k.addr[:8])^0x8ebc6af09c88c6e3, le.Uint64(k.addr[8:])^0x589965cc75374cc3) ^
		mum(name^0x1d8e4e27c47d124f, mac^0xa0761d6478bd642f)
	return uint32(mum(h, 0xe7037ed1a0b428db) >> 32)
}

// mum is wyhash's mixing step: the two halves of a 128-bit product, xored.
func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// addrHash hashes an address, with a secret from the index's seed so that
// whoever chooses the addresses of answers cannot pile them on one probe
// sequence.
func addrHash(secret uint64, addr *[16]byte) uint32 {
	le := binary.LittleEndian
	return uint32(mum(mum(le.Uint64(addr[:8])^secret, le.Uint64(addr[8:])^0x8ebc6af09c88c6e3), 0x589965cc75374cc3) >> 32)
}

// nameHash hashes a name for key.hash.
func nameHash(seed maphash.Seed, name string) uint64 { return maphash.String(seed, name) }
