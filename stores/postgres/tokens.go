package postgres

import (
	"context"
	"time"

	"github.com/sessiond/sessiond/internal/storeop"
)

// RedeemToken records a one-time token id as used until expires, and
// reports whether this call redeemed it (false: it already was). The
// primary key makes the first insert win; concurrent ones wait for it and
// then find the conflict. An expired entry that the sweeper has not removed
// yet is replaced: the token itself has expired by then, so its id can
// never be presented validly again.
func (s *Store) RedeemToken(ctx context.Context, id string, expires time.Time) (bool, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `
INSERT INTO redeemed_tokens (id, expires_at) VALUES ($1, $2)
ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at
WHERE redeemed_tokens.expires_at <= $3`,
		id, ms(expires), time.Now())
	if err != nil {
		return false, storeop.Wrap(engine, "redeem token", err)
	}
	return tag.RowsAffected() == 1, nil
}
