package mysql

import (
	"context"
	"time"
)

// sweepBatch keeps each DELETE short, so that its locks do not hold up
// validations and writes for long.
const sweepBatch = 1000

// DeleteExpired removes sessions whose idle expiry has passed (the idle
// expiry is never later than the absolute one), then expired one-time token
// entries.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	n, err := s.deleteBatches(ctx, `DELETE FROM sessions WHERE idle_expires_at <= ? ORDER BY idle_expires_at, id LIMIT ?`, now)
	if err != nil {
		return n, wrap("delete expired", err)
	}
	_, err = s.deleteBatches(ctx, `DELETE FROM redeemed_tokens WHERE expires_at <= ? ORDER BY expires_at, id LIMIT ?`, now)
	return n, wrap("delete expired", err)
}

// deleteBatches runs a DELETE … LIMIT until it deletes less than a batch.
// The ORDER BY makes each batch deterministic, as statement-based
// replication wants of a DELETE … LIMIT; the expiry index (which InnoDB
// extends with the primary key) serves it. Each batch gets its own
// op_timeout, so a large backlog is not cut short.
func (s *Store) deleteBatches(ctx context.Context, query string, now time.Time) (int, error) {
	total := 0
	for {
		bctx, cancel := s.bound(ctx)
		n, err := s.exec(bctx, query, now, sweepBatch)
		cancel()
		total += int(n)
		if err != nil || n < sweepBatch {
			return total, err
		}
	}
}
