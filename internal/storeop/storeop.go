// Package storeop holds the two conventions every store follows on every
// call: a timeout of the store's own, and one way to wrap errors.
package storeop

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sessiond/sessiond"
)

// DefaultTimeout bounds one store call when the store's options set none.
const DefaultTimeout = 2 * time.Second

// Bound returns ctx bounded by the store's timeout d (DefaultTimeout if d
// is zero), whatever deadline ctx already has: the earlier one wins. A
// caller with a long request deadline must still see a dead or frozen store
// fail within d, so that it answers 503 instead of hanging.
func Bound(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		d = DefaultTimeout
	}
	return context.WithTimeout(ctx, d)
}

// Wrap names the engine and the operation on an error that means the store
// could not answer ("postgres: lookup: ..."). Domain errors
// (*sessiond.Error: ErrNotFound, ErrConflict, ErrUserBanned, ...) pass
// through unchanged, so callers match them with errors.Is. Nil stays nil.
func Wrap(engine, op string, err error) error {
	var domain *sessiond.Error
	if err == nil || errors.As(err, &domain) {
		return err
	}
	return fmt.Errorf("%s: %s: %w", engine, op, err)
}
