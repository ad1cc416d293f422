package postgres

import (
	"context"
	"time"

	"github.com/sessiond/sessiond"
)

// RedeemToken inserts the token id; the primary key makes the first insert
// win, and concurrent ones wait for it and then find the conflict. An
// expired entry that the sweeper has not removed yet is replaced.
func (s *Store) RedeemToken(ctx context.Context, id string, expires time.Time) error {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `
INSERT INTO redeemed_tokens (id, expires_at) VALUES ($1, $2)
ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at
WHERE redeemed_tokens.expires_at <= $3`,
		id, ms(expires), time.Now())
	if err != nil {
		return fail("redeem token", err)
	}
	if tag.RowsAffected() == 0 {
		return sessiond.ErrTokenUsed
	}
	return nil
}
