package sqlite

import (
	"context"
	"database/sql"

	"github.com/sessiond/sessiond"
)

// writeQueue lets one of the store's writes at a time reach SQLite, in the
// order they arrived. SQLite has one writer per file anyway; queueing in Go
// keeps the store's own writes from meeting in SQLite's busy loop (which
// sleeps and retries, and favours no one), and serves them first come,
// first served: a blocked channel send is woken in FIFO order, whereas
// database/sql hands a free connection to a random waiter, so under a burst
// (many concurrent compare-and-swap retries) one unlucky call could wait
// out its whole OpTimeout. A waiter gives up at its context's deadline.
// Other processes' writes still meet the store's in SQLite's lock, bounded
// by the busy timeout.
type writeQueue chan struct{}

func (q writeQueue) acquire(ctx context.Context) error {
	select {
	case q <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (q writeQueue) release() { <-q }

// exec runs one write statement in its turn.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := s.writes.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.writes.release()
	return s.write.ExecContext(ctx, query, args...)
}

// execRows runs one write statement in its turn and reports how many rows
// it changed.
func (s *Store) execRows(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := s.exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// execReturning runs one UPDATE ... RETURNING sessionColumns in its turn.
func (s *Store) execReturning(ctx context.Context, query string, args ...any) (sessiond.Session, error) {
	if err := s.writes.acquire(ctx); err != nil {
		return sessiond.Session{}, err
	}
	defer s.writes.release()
	return scanSession(s.write.QueryRowContext(ctx, query, args...))
}
