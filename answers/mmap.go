package answers

import (
	"unsafe"

	"github.com/dnsward/dnsward/internal/offheap"
)

// The index's big arrays (slots, table cells, the string store) are
// mapped outside the Go heap (offheap): they hold no Go pointers.

// pageSize is the granule of a mapping.
const pageSize = 4096

// mapSlice maps a zeroed slice of n Ts, n > 0 (offheap.Map). Running out
// of address space panics, as make does.
func mapSlice[T any](n int) []T {
	s, err := offheap.Map[T](n)
	if err != nil {
		panic("answers: " + err.Error())
	}
	return s
}

// unmapSlice unmaps what mapSlice returned, whole (any length of it);
// nil is left alone.
func unmapSlice[T any](s []T) {
	if err := offheap.Unmap(s); err != nil {
		panic("answers: " + err.Error())
	}
}

// pagesOf is the size of n Ts in whole pages: what the first n elements
// of a mapping hold resident once touched.
func pagesOf[T any](n int) int {
	b := n * int(unsafe.Sizeof(*new(T)))
	return (b + pageSize - 1) / pageSize * pageSize
}
