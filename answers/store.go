package answers

import (
	"encoding/binary"
	"hash/maphash"
	"unsafe"
)

// store holds a shard's strings (see slot) once each, counted by the
// slots that refer to them, so that a name a thousand entries share is
// stored once and the last entry to go frees it. Slots refer to a string
// by its record's position, 4 bytes where a string header costs 16 and a
// pointer would make the garbage collector scan every slot.
//
// A record is a reference count (uint32), the string's length (see
// appendLen) and its bytes, padded to a multiple of unit bytes; its id is
// its offset in units. Id 0 is never a record, so that it can end a free
// list. A freed record goes on the free list of its size, linked through
// the 4 bytes after its count (a record is at least 2 units), for the
// next string of that size.
type store struct {
	buf   []byte // mapped off the heap; len is the high-water mark
	table table  // every record, by its string's hash
	free  []uint32
	seed  maphash.Seed
}

const unit = 4

// view is record id's string. It points into the store's mapping: valid
// until the next intern, and never to be kept.
func (st *store) view(id uint32) string {
	// Ids are the store's own: no bounds to check on this hot path.
	p := unsafe.Add(unsafe.Pointer(unsafe.SliceData(st.buf)), int(id)*unit+4)
	n, w := int(*(*byte)(p)), 1
	if n == 0xff {
		n, w = int(binary.LittleEndian.Uint32((*[5]byte)(p)[1:])), 5
	}
	return unsafe.String((*byte)(unsafe.Add(p, w)), n)
}

// appendLen appends a string's length as records and the strings in them
// keep it: one byte below 255, else 255 and 4 bytes (little-endian), so
// that the usual length is read without a loop or a call.
func appendLen(b []byte, n int) []byte {
	if n < 0xff {
		return append(b, byte(n))
	}
	return binary.LittleEndian.AppendUint32(append(b, 0xff), uint32(n))
}

// readLen reads the length appendLen put at the start of s, and its width.
func readLen(s string) (n, w int) {
	if n = int(s[0]); n < 0xff {
		return n, 1
	}
	return int(uint32(s[1]) | uint32(s[2])<<8 | uint32(s[3])<<16 | uint32(s[4])<<24), 5
}

// intern returns b's record, adding a reference to it.
func (st *store) intern(b []byte) uint32 {
	h := uint32(maphash.Bytes(st.seed, b))
	cell, found := st.table.find(h, func(id int32) bool { return st.view(uint32(id)) == string(b) })
	if found >= 0 {
		st.refs(uint32(found), +1)
		return uint32(found)
	}
	units := recordUnits(len(b))
	var id uint32
	if units < len(st.free) && st.free[units] != 0 {
		id = st.free[units]
		st.free[units] = binary.LittleEndian.Uint32(st.buf[int(id)*unit+4:])
	} else {
		id = st.extend(units)
	}
	p := int(id) * unit
	binary.LittleEndian.PutUint32(st.buf[p:], 1)
	l := appendLen(st.buf[p+4:p+4], len(b)) // in place: the record has room
	copy(st.buf[p+4+len(l):], b)
	st.table.insert(cell, h, int32(id))
	return id
}

// lenWidth is how many bytes appendLen takes for n.
func lenWidth(n int) int {
	if n < 0xff {
		return 1
	}
	return 5
}

// recordUnits is the size of a record holding n bytes.
func recordUnits(n int) int {
	return (4 + lenWidth(n) + n + unit - 1) / unit
}

// extend appends room for a record of units to the mapping, which grows
// by doubling: a copy touches only the used part, the rest stays
// untouched, so not resident, until written.
func (st *store) extend(units int) uint32 {
	if st.buf == nil {
		// Id 0 is never a record.
		st.buf = mapSlice[byte](pageSize)[:unit]
	}
	n := len(st.buf)
	if need := n + units*unit; need > cap(st.buf) {
		grown := mapSlice[byte]((max(2*cap(st.buf), need) + pageSize - 1) / pageSize * pageSize)
		copy(grown, st.buf)
		unmapSlice(st.buf)
		st.buf = grown[:n]
	}
	st.buf = st.buf[:n+units*unit]
	return uint32(n / unit)
}

// refs adds delta to record id's count and returns the new count.
func (st *store) refs(id uint32, delta int) uint32 {
	p := st.buf[int(id)*unit:]
	c := uint32(int(binary.LittleEndian.Uint32(p)) + delta)
	binary.LittleEndian.PutUint32(p, c)
	return c
}

// replace points *id at b's record, releasing the one it pointed at.
func (st *store) replace(id *uint32, b []byte) {
	n := st.intern(b)
	st.release(*id)
	*id = n
}

// release drops a reference to record id, freeing it with the last one.
func (st *store) release(id uint32) {
	if st.refs(id, -1) > 0 {
		return
	}
	s := st.view(id)
	cell, _ := st.table.find(uint32(maphash.String(st.seed, s)), func(j int32) bool { return uint32(j) == id })
	st.table.remove(cell)
	units := recordUnits(len(s))
	if units >= len(st.free) {
		st.free = append(st.free, make([]uint32, units+1-len(st.free))...)
	}
	binary.LittleEndian.PutUint32(st.buf[int(id)*unit+4:], st.free[units])
	st.free[units] = id
}

// bytes is what the store holds resident.
func (st *store) bytes() int {
	return pagesOf[byte](len(st.buf)) + pagesOf[uint64](len(st.table.cells))
}

// unmap frees the store's mappings, leaving it empty.
func (st *store) unmap() {
	unmapSlice(st.buf)
	st.buf, st.free = nil, nil
	st.table.unmap()
}
