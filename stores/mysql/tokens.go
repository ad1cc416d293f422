package mysql

import (
	"context"
	"time"

	"github.com/sessiond/sessiond"
)

// RedeemToken inserts the token id; the primary key makes the first insert
// win. An expired entry that the sweeper has not removed yet is replaced.
// MySQL reports 1 row for an insert, 2 for a replaced entry and 0 for an
// entry left alone (rows changed, not matched: see parseURL).
func (s *Store) RedeemToken(ctx context.Context, id string, expires time.Time) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n, err := s.exec(ctx, `INSERT INTO redeemed_tokens (id, expires_at) VALUES (?, ?)
ON DUPLICATE KEY UPDATE expires_at = IF(expires_at <= ?, ?, expires_at)`,
		id, expires, time.Now(), expires)
	if err != nil {
		return wrap("redeem token", err)
	}
	if n == 0 {
		return sessiond.ErrTokenUsed
	}
	return nil
}
