package sqlite

import (
	"context"
	"time"

	"github.com/sessiond/sessiond"
)

// RedeemToken inserts the token id; the primary key makes the first insert
// win. An expired entry that the sweeper has not removed yet is replaced.
func (s *Store) RedeemToken(ctx context.Context, id string, expires time.Time) error {
	res, err := s.write.ExecContext(ctx, `
INSERT INTO redeemed_tokens (id, expires_at) VALUES (?, ?)
ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at WHERE redeemed_tokens.expires_at <= ?`,
		id, expires.UnixMilli(), time.Now().UnixMilli())
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return sessiond.ErrTokenUsed
	}
	return nil
}
