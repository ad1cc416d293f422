package redis

import (
	"context"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond/internal/storeop"
)

// RedeemToken records a one-time token id with SET NX, whose first caller
// wins; the key expires with the token, so the ledger cleans itself. It
// reports whether this call redeemed the token (false: it already was).
func (s *Store) RedeemToken(ctx context.Context, id string, expires time.Time) (bool, error) {
	// Redis drops a key whose PXAT has passed, which would record nothing;
	// an expiry already past (a verifier refuses such a token anyway) is
	// kept for a millisecond instead.
	at := expires
	if now := time.Now().Add(time.Millisecond); at.Before(now) {
		at = now
	}
	ctx, cancel := storeop.Bound(ctx, s.opts.OpTimeout)
	defer cancel()
	err := s.client.Do(ctx, s.client.B().Set().Key(s.opts.KeyPrefix+"t:"+id).Value("1").Nx().Pxat(at).Build()).Error()
	switch {
	case isNil(err):
		return false, nil
	case err != nil:
		return false, storeop.Wrap(engine, "redeem token", err)
	}
	return true, nil
}

func isNil(err error) bool { return rueidis.IsRedisNil(err) }
