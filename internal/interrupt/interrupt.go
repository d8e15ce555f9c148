// Package interrupt makes a blocking call on a connection give up when its
// context is done, and keeps that from reaching a later call.
package interrupt

import (
	"context"
	"time"
)

// On arranges for set to be called with a time long past once ctx is
// done: a net.Conn deadline setter then makes the blocked call return.
// The stop it returns must be called once the call has ended; it reports
// whether ctx interrupted it and, if so, waits until set has returned.
// context.AfterFunc alone runs set in a goroutine of its own, which could
// land the past deadline after the caller's next call had set its own,
// and fail that call for nothing.
func On(ctx context.Context, set func(time.Time) error) (stop func() (interrupted bool)) {
	fired := make(chan struct{})
	cancel := context.AfterFunc(ctx, func() {
		_ = set(time.Unix(1, 0))
		close(fired)
	})
	return func() bool {
		if cancel() {
			return false
		}
		<-fired
		return true
	}
}
