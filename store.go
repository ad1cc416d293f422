package sessiond

import (
	"context"
	"encoding/json"
	"time"
)

// Store keeps sessions and users. Every method is atomic on its own; the
// Manager builds the policy (expiry, sliding, retries) on top, so a store
// stays small: one folder per engine, and one conformance suite (storetest)
// that all of them pass.
//
// Stores return ErrNotFound for unknown ids and ErrConflict for a lost
// compare-and-swap; any other error means the store could not answer, and
// callers fail closed.
//
// The writes that change what a validation would return — UpdateData,
// Rotate, Delete, DeleteUserSessions, PutUser — are the ones a store that
// supports a near cache announces to other nodes. Touch is deliberately not
// among them: sliding expiry must not turn every request into an
// invalidation.
type Store interface {
	// Create inserts a new session. It fails with ErrUserBanned if the
	// user's record is banned, checked atomically with the insert.
	Create(ctx context.Context, s *Session) error

	// Lookup returns a session and its user in one round trip where the
	// engine allows it (a join, a script). The user is DefaultUser when no
	// record is stored. Expired sessions may be returned: the Manager judges
	// expiry with its own clock.
	Lookup(ctx context.Context, id string) (*Session, *User, error)

	// Touch records use of a session by moving LastSeenAt and IdleExpiresAt.
	// It never creates a session: touching a revoked one is a no-op.
	Touch(ctx context.Context, id string, lastSeen, idleExpires time.Time) error

	// UpdateData replaces the data if the stored version is still version,
	// and increments the version. It returns ErrConflict if the version
	// moved and ErrNotFound if the session is gone, so an update racing a
	// revocation can never bring the session back.
	UpdateData(ctx context.Context, id string, version int64, data json.RawMessage) (*Session, error)

	// Rotate moves a session to a new id, keeping everything else, and sets
	// its last-seen and idle expiry. The old id stops existing in the same
	// step. ErrNotFound if oldID is gone.
	Rotate(ctx context.Context, oldID, newID string, lastSeen, idleExpires time.Time) (*Session, error)

	// Delete removes one session. ErrNotFound if it did not exist.
	Delete(ctx context.Context, id string) error

	// DeleteUserSessions removes every session of a user except exceptID
	// (which may be empty) in one atomic step and returns how many went.
	DeleteUserSessions(ctx context.Context, userID, exceptID string) (int, error)

	// ListUserSessions returns a user's sessions from a per-user index (never
	// a scan of all sessions). Expired ones may be included.
	ListUserSessions(ctx context.Context, userID string) ([]*Session, error)

	// GetUser returns a stored user record, or ErrNotFound.
	GetUser(ctx context.Context, id string) (*User, error)

	// PutUser creates or replaces a user record. Storing a banned user
	// deletes all of that user's sessions in the same atomic step and
	// returns how many went.
	PutUser(ctx context.Context, u *User) (revoked int, err error)

	// Ping reports whether the store is reachable (for /readyz).
	Ping(ctx context.Context) error

	// Close releases connections and stops background work.
	Close() error
}

// APIKey is a credential for the management API. Only the SHA-256 of the
// key is stored.
type APIKey struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Hash      string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
}

// APIKeyStore is implemented by stores that can hold the server's API keys.
// It is separate from Store because library users never need it.
type APIKeyStore interface {
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// APIKeyByHash returns the key whose hash matches, or ErrNotFound. The
	// lookup is by hash, so no secret is ever compared byte by byte.
	APIKeyByHash(ctx context.Context, hash string) (*APIKey, error)
	ListAPIKeys(ctx context.Context) ([]*APIKey, error)
	// DeleteAPIKey removes a key by id, or returns ErrNotFound.
	DeleteAPIKey(ctx context.Context, id string) error
}

// ExpiredSweeper is implemented by stores whose engine does not expire
// records by itself (SQL). Stores run it in the background; tests and
// operators may call it directly.
type ExpiredSweeper interface {
	DeleteExpired(ctx context.Context, now time.Time) (int, error)
}

// SessionPlacer is implemented by stores that shard by user, such as Redis
// Cluster: a session must live in the same shard as its user's index, so
// that revoking all of a user's sessions is one atomic step, yet it must be
// found by its id alone. The Manager draws tokens until the id starts with
// the prefix the store asks for (the Redis store asks for two hex digits:
// about 256 draws of a few hundred nanoseconds, paid only on creation and
// rotation, never on validation).
type SessionPlacer interface {
	// IDPrefix returns the lowercase hex prefix every session id of userID
	// must have ("" for none).
	IDPrefix(userID string) string
}

// TokenLedger records redeemed single-use tokens until they expire, so that
// a one-time token (a password-reset link, say) works exactly once across
// every node sharing the store.
type TokenLedger interface {
	// RedeemToken records id as used until expires. It returns ErrTokenUsed
	// if it already was: of N concurrent calls for one id, exactly one
	// succeeds.
	RedeemToken(ctx context.Context, id string, expires time.Time) error
}

// Invalidation says that what a validation returns for a session, or for
// every session of a user, may have changed on some node.
type Invalidation struct {
	// SessionID is set when one session was revoked, rotated away or had
	// its data changed.
	SessionID string
	// UserID is set when a user's record changed or all (or all but one) of
	// the user's sessions were revoked.
	UserID string
}

// Invalidator is implemented by stores that tell every node about the
// writes listed on Store (never about touches), so that a near cache can
// drop what they made stale.
type Invalidator interface {
	// Subscribe delivers invalidations published by any node, this one
	// included, to fn. It calls ready once the subscription is live, then
	// blocks until ctx ends or the subscription is lost, and returns why.
	// Messages published while no subscription was live are lost: callers
	// must treat a return as "anything may have changed".
	Subscribe(ctx context.Context, ready func(), fn func(Invalidation)) error
}

// SessionCache is implemented by store layers that keep validated sessions
// in memory (package nearcache). Cached answers without any I/O, or misses;
// it is keyed by the raw SHA-256 of the token so that a hit costs one hash
// and no encoding.
type SessionCache interface {
	Cached(h IDHash) (*Session, *User, bool)
}
