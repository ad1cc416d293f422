// Package sweeper deletes a store's expired records in the background: the
// SQL stores' stand-in for Redis's native TTLs.
package sweeper

import (
	"context"
	"sync"
	"time"
)

// Store is what a sweeper sweeps: the DeleteExpired capability of the SQL
// stores (sessiond.Store has no such method; Redis expires by itself).
type Store interface {
	DeleteExpired(ctx context.Context, now time.Time) (int, error)
}

// Sweeper calls DeleteExpired on a ticker until stopped.
type Sweeper struct {
	stop chan struct{}
	once sync.Once
	done chan struct{}
}

// Start sweeps every interval. A failed sweep (the server is down, say) is
// retried at the next tick: the Manager refuses expired sessions whether or
// not they have been deleted yet, so sweeping is housekeeping, not security.
func Start(store Store, every time.Duration) *Sweeper {
	s := &Sweeper{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				store.DeleteExpired(ctx, time.Now())
				cancel()
			}
		}
	}()
	return s
}

// Stop ends the sweeping and waits for a sweep in progress. It is safe to
// call on a nil Sweeper and more than once.
func (s *Sweeper) Stop() {
	if s == nil {
		return
	}
	s.once.Do(func() { close(s.stop) })
	<-s.done
}
