//go:build !unix

package resolver

// mapChunk allocates a chunk on the heap where there is no mmap.
func mapChunk() ([]byte, error) { return make([]byte, chunkSize), nil }

func unmapChunk([]byte) {}

func releaseChunk([]byte) {}
