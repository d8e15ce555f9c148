//go:build unix

package resolver

import "syscall"

// mapChunk maps a chunk of anonymous memory: its pages become resident
// only once written.
func mapChunk() ([]byte, error) {
	return syscall.Mmap(-1, 0, chunkSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
}

func unmapChunk(c []byte) { _ = syscall.Munmap(c) }

// releaseChunk gives a chunk's pages back to the kernel, which maps fresh
// ones when it is written again.
func releaseChunk(c []byte) { _ = syscall.Madvise(c, syscall.MADV_DONTNEED) }
