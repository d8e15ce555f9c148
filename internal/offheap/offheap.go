// Package offheap maps arrays outside the Go heap, for data that holds no
// Go pointers: the garbage collector neither scans them nor counts them
// towards its goal, so they cost their size and no headroom, and a page of
// them is resident only once it is written.
package offheap

import (
	"fmt"
	"syscall"
	"unsafe"
)

// Map maps a zeroed slice of n Ts, n > 0, whose pages are taken from the
// system as they are first written. T must hold no Go pointers.
func Map[T any](n int) ([]T, error) {
	size := n * int(unsafe.Sizeof(*new(T)))
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE|syscall.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("mapping %d bytes: %w", size, err)
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), n), nil
}

// Unmap unmaps what Map returned, whole (any length of it); nil is left
// alone. Nothing may use the slice after.
func Unmap[T any](s []T) error {
	if cap(s) == 0 {
		return nil
	}
	if err := syscall.Munmap(bytesOf(s)); err != nil {
		return fmt.Errorf("unmapping %d bytes: %w", cap(s)*int(unsafe.Sizeof(*new(T))), err)
	}
	return nil
}

// Release gives the pages of what Map returned back to the system; the
// slice stays mapped, and reads as zeroes until written again.
func Release[T any](s []T) error {
	if cap(s) == 0 {
		return nil
	}
	return syscall.Madvise(bytesOf(s), syscall.MADV_DONTNEED)
}

func bytesOf[T any](s []T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), cap(s)*int(unsafe.Sizeof(*new(T))))
}
