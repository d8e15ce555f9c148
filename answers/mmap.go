package answers

import (
	"fmt"
	"syscall"
	"unsafe"
)

// The index's big arrays (slots, table cells, the string store) are
// mapped outside the Go heap: the garbage collector neither scans them
// nor counts them towards its goal, so they cost their size and no
// headroom, and a page of them is resident only once it is touched.
// They hold no Go pointers.

// pageSize is the granule of a mapping.
const pageSize = 4096

// mapSlice maps a zeroed slice of n Ts, n > 0, whose pages are taken
// from the system as they are first written. Running out of address
// space panics, as make does.
func mapSlice[T any](n int) []T {
	size := int(unsafe.Sizeof(*new(T)))
	b, err := syscall.Mmap(-1, 0, n*size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE|syscall.MAP_NORESERVE)
	if err != nil {
		panic(fmt.Sprintf("answers: mapping %d bytes: %v", n*size, err))
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

// unmapSlice unmaps what mapSlice returned, whole (any length of it);
// nil is left alone.
func unmapSlice[T any](s []T) {
	if cap(s) == 0 {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), cap(s)*int(unsafe.Sizeof(*new(T))))
	if err := syscall.Munmap(b); err != nil {
		panic(fmt.Sprintf("answers: unmapping %d bytes: %v", len(b), err))
	}
}

// pagesOf is the size of n Ts in whole pages: what the first n elements
// of a mapping hold resident once touched.
func pagesOf[T any](n int) int {
	b := n * int(unsafe.Sizeof(*new(T)))
	return (b + pageSize - 1) / pageSize * pageSize
}
