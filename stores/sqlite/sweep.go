package sqlite

import (
	"context"
	"time"

	"github.com/sessiond/sessiond/internal/storeop"
)

// sweepBatch keeps each delete short, so validations and writes interleave
// with a large sweep.
const sweepBatch = 1000

// DeleteExpired removes sessions whose idle expiry has passed (the idle
// expiry is never later than the absolute one) and redeemed one-time
// tokens past theirs, and returns how many sessions went. Each batch is one
// store call, bounded by OpTimeout; ctx bounds the whole sweep.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		n, err := s.deleteExpiredBatch(ctx, `
DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE idle_expires_at <= ? LIMIT ?)`, now)
		total += n
		if err != nil {
			return total, storeop.Wrap(engine, "delete expired", err)
		}
		if n < sweepBatch {
			break
		}
	}
	for {
		n, err := s.deleteExpiredBatch(ctx, `
DELETE FROM redeemed_tokens WHERE id IN (SELECT id FROM redeemed_tokens WHERE expires_at <= ? LIMIT ?)`, now)
		if err != nil {
			return total, storeop.Wrap(engine, "delete expired", err)
		}
		if n < sweepBatch {
			return total, nil
		}
	}
}

func (s *Store) deleteExpiredBatch(ctx context.Context, query string, now time.Time) (int, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	n, err := s.execRows(ctx, query, now.UnixMilli(), sweepBatch)
	return int(n), err
}
