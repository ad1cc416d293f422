package mysql

import (
	"context"
	"time"

	"github.com/sessiond/sessiond/internal/storeop"
)

// sweepBatch keeps each DELETE short, so that its locks do not hold up
// validations and writes for long.
const sweepBatch = 1000

// DeleteExpired removes sessions whose idle expiry has passed (the idle
// expiry is never later than the absolute one), then expired one-time token
// entries, and returns how many sessions went. The store's sweeper calls
// it every Options.SweepInterval.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	n, err := s.deleteBatches(ctx, `DELETE FROM sessions WHERE idle_expires_at <= ? ORDER BY idle_expires_at, id LIMIT ?`, now)
	if err != nil {
		return n, storeop.Wrap(engine, "delete expired", err)
	}
	_, err = s.deleteBatches(ctx, `DELETE FROM redeemed_tokens WHERE expires_at <= ? ORDER BY expires_at, id LIMIT ?`, now)
	return n, storeop.Wrap(engine, "delete expired", err)
}

// deleteBatches runs a DELETE … LIMIT until it deletes less than a batch.
// The ORDER BY makes each batch deterministic, as statement-based
// replication wants of a DELETE … LIMIT; the expiry index (which InnoDB
// extends with the primary key) serves it. Each batch is one store call,
// bounded by the store's timeout, so a large backlog is not cut short;
// ctx (the sweeper's) bounds the whole.
func (s *Store) deleteBatches(ctx context.Context, query string, now time.Time) (int, error) {
	total := 0
	for {
		bctx, cancel := storeop.Bound(ctx, s.opTimeout)
		n, err := s.exec(bctx, query, dbTime(now), sweepBatch)
		cancel()
		total += int(n)
		if err != nil || n < sweepBatch {
			return total, err
		}
	}
}
