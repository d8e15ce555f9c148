package web

// ring keeps the last len(buf) values pushed; the caller locks.
type ring[T any] struct {
	buf  []T
	next int
	full bool
}

func newRing[T any](n int) ring[T] { return ring[T]{buf: make([]T, n)} }

func (r *ring[T]) push(v T) {
	r.buf[r.next] = v
	r.next = (r.next + 1) % len(r.buf)
	r.full = r.full || r.next == 0
}

// all is the values held, oldest first, copied.
func (r *ring[T]) all() []T {
	if !r.full {
		return append([]T(nil), r.buf[:r.next]...)
	}
	return append(append([]T(nil), r.buf[r.next:]...), r.buf[:r.next]...)
}

// last is the newest value; ok is false when there is none.
func (r *ring[T]) last() (v T, ok bool) {
	if !r.full && r.next == 0 {
		return v, false
	}
	return r.buf[(r.next-1+len(r.buf))%len(r.buf)], true
}
