package mysql

import (
	"context"
	"time"

	"github.com/sessiond/sessiond/internal/storeop"
)

// RedeemToken records a one-time token id as used until expires, and
// reports whether this call redeemed it (false: it already was). The
// primary key makes the first insert win, across every node sharing the
// database; the loser's duplicate-key error is the answer "already
// redeemed". An entry past its expiry that the sweeper has not removed yet
// is deleted and the insert tried once more.
//
// No count of "affected rows" is read here, because an upsert's count
// depends on the DSN's clientFoundRows; an insert either inserts or fails.
func (s *Store) RedeemToken(ctx context.Context, id string, expires time.Time) (bool, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	redeemed, err := s.insertRedeemed(ctx, id, expires)
	if redeemed || err != nil {
		return redeemed, storeop.Wrap(engine, "redeem token", err)
	}
	n, err := s.exec(ctx, `DELETE FROM redeemed_tokens WHERE id = ? AND expires_at <= ?`, id, dbTime(time.Now()))
	if n == 0 || err != nil {
		return false, storeop.Wrap(engine, "redeem token", err)
	}
	redeemed, err = s.insertRedeemed(ctx, id, expires)
	return redeemed, storeop.Wrap(engine, "redeem token", err)
}

// insertRedeemed inserts an entry: true if it did, false if the id is
// already there.
func (s *Store) insertRedeemed(ctx context.Context, id string, expires time.Time) (bool, error) {
	_, err := s.exec(ctx, `INSERT INTO redeemed_tokens (id, expires_at) VALUES (?, ?)`, id, dbTime(expires))
	if isServerError(err, errDuplicateKey) {
		return false, nil
	}
	return err == nil, err
}
