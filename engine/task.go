package engine

import "context"

// task is background work that a reload replaces.
type task struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startTask runs run in its own goroutine until ctx is done or stop.
func startTask(ctx context.Context, run func(context.Context)) *task {
	ctx, cancel := context.WithCancel(ctx)
	t := &task{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(t.done)
		run(ctx)
	}()
	return t
}

// stop cancels the work and waits for it to return.
func (t *task) stop() {
	t.cancel()
	<-t.done
}
