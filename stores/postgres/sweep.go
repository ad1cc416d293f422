package postgres

import (
	"context"
	"time"

	"github.com/sessiond/sessiond/internal/storeop"
)

// sweepBatch keeps each DELETE short, so that its locks and WAL stay small
// and validations and writes interleave with it.
const sweepBatch = 1000

// DeleteExpired removes sessions whose idle expiry has passed (the idle
// expiry is never later than the absolute one) and redeemed-token entries
// past theirs, in batches, each bounded by the store's timeout. SKIP LOCKED
// lets the sweepers of several nodes share the work instead of queueing
// behind one another, and never makes a sweep wait for a session that a
// request is updating. It returns how many sessions went. Sweeping is not
// announced: the Manager refuses expired sessions by its own clock.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	sessions, err := s.deleteBatches(ctx, `
DELETE FROM sessions WHERE id IN (
	SELECT id FROM sessions WHERE idle_expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, now)
	if err != nil {
		return sessions, storeop.Wrap(engine, "delete expired", err)
	}
	_, err = s.deleteBatches(ctx, `
DELETE FROM redeemed_tokens WHERE id IN (
	SELECT id FROM redeemed_tokens WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, now)
	return sessions, storeop.Wrap(engine, "delete expired", err)
}

func (s *Store) deleteBatches(ctx context.Context, query string, now time.Time) (int, error) {
	total := 0
	for {
		bctx, cancel := storeop.Bound(ctx, s.opTimeout)
		tag, err := s.pool.Exec(bctx, query, now, sweepBatch)
		cancel()
		if err != nil {
			return total, err
		}
		total += int(tag.RowsAffected())
		if tag.RowsAffected() < sweepBatch {
			return total, nil
		}
	}
}
