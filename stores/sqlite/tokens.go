package sqlite

import (
	"context"
	"time"

	"github.com/sessiond/sessiond/internal/storeop"
)

// RedeemToken records a one-time token id as used until expires and
// reports whether this call redeemed it (false: it already was). The
// primary key makes the first insert win, across every process sharing the
// file; an entry past its expiry that the sweeper has not removed yet is
// taken over.
func (s *Store) RedeemToken(ctx context.Context, id string, expires time.Time) (bool, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	n, err := s.execRows(ctx, `
INSERT INTO redeemed_tokens (id, expires_at) VALUES (?, ?)
ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at WHERE redeemed_tokens.expires_at <= ?`,
		id, expires.UnixMilli(), time.Now().UnixMilli())
	if err != nil {
		return false, storeop.Wrap(engine, "redeem token", err)
	}
	return n == 1, nil
}
