package upstream

import (
	"errors"
	"io"
	"sync/atomic"
)

// ErrClosed is returned by an exchange with an upstream after its Close.
var ErrClosed = errors.New("upstream closed")

// pool keeps idle connections for the next exchanges until it is closed.
type pool[C io.Closer] struct {
	idle   chan C
	closed atomic.Bool
}

func newPool[C io.Closer](size int) *pool[C] {
	return &pool[C]{idle: make(chan C, size)}
}

// get returns an idle connection, if there is one.
func (p *pool[C]) get() (C, bool) {
	select {
	case c := <-p.idle:
		return c, true
	default:
		var zero C
		return zero, false
	}
}

// put keeps c for the next exchange, or closes it when the pool is full
// or closed.
func (p *pool[C]) put(c C) {
	select {
	case p.idle <- c:
		// Close sets closed before it drains, so either it drains c or
		// this sees closed set and drains c itself.
		if p.closed.Load() {
			p.drain()
		}
	default:
		c.Close()
	}
}

// close closes the idle connections; those in use are closed when they
// are put back. It may be called more than once.
func (p *pool[C]) close() {
	p.closed.Store(true)
	p.drain()
}

func (p *pool[C]) drain() {
	for {
		select {
		case c := <-p.idle:
			c.Close()
		default:
			return
		}
	}
}
