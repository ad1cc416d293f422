package sessiond

import (
	"context"
	"encoding/json"
	"time"
)

// Store keeps sessions and users. Every method is atomic on its own; the
// Manager builds the policy (expiry, sliding, rotation, retries) on top, so a
// store stays small: one folder per engine, and one conformance suite
// (package storetest) that all of them pass.
//
// The rules every store follows:
//
//   - Errors: ErrNotFound for an unknown id, ErrConflict for a lost
//     compare-and-swap, ErrUserBanned from Create; any other error means the
//     store could not answer, and callers fail closed. Every call is bounded
//     by the store's own timeout, whatever the caller's deadline.
//   - Records go in and come out as values: a store never keeps a reference
//     to what it was given or hands out one to what it keeps.
//   - Session ids are 22 characters of base64url (16 bytes) and are stored
//     byte for byte; user ids are any UTF-8 of up to 256 bytes, compared byte
//     for byte (no case folding, no normalisation).
//   - Placement: the first byte of a session id (decoded) is the first byte
//     of SHA-256 of its user id. A sharded store (Redis Cluster) puts a
//     user's sessions, index and record in the shard that byte names, so
//     revoking all of a user's sessions is one atomic step, and still finds
//     a session by its id alone. (It tells which of 256 buckets the user
//     falls in, nothing more.)
//   - Expiry: Lookup may return an expired session (the Manager judges
//     expiry with its own clock); stores drop records past IdleExpiresAt by
//     themselves (TTLs, or a sweeper).
//   - Nothing brings a session back: Touch, UpdateData and Rotate change only
//     a session that exists.
//   - A store that announces invalidations (for a near cache: package
//     nearcache) announces every write that changes what a validation
//     returns — UpdateData, Rotate, Delete, DeleteUserSessions, PutUser — and
//     never Create or Touch: sliding expiry must not turn every request into
//     an invalidation.
type Store interface {
	// Create inserts a new session. It fails with ErrUserBanned if the
	// user's record is banned, checked atomically with the insert.
	Create(ctx context.Context, s Session) error

	// Lookup returns a session and its user in one round trip where the
	// engine allows it (a join, a script). The user is active with no roles
	// when no record is stored.
	Lookup(ctx context.Context, id string) (Session, User, error)

	// Touch records use of a session by moving LastSeenAt and IdleExpiresAt.
	// Touching a session that is gone is a no-op, not an error.
	Touch(ctx context.Context, id string, lastSeen, idleExpires time.Time) error

	// UpdateData replaces the data if the stored version is still version,
	// and increments the version. ErrConflict if the version moved,
	// ErrNotFound if the session is gone.
	UpdateData(ctx context.Context, id string, version int64, data json.RawMessage) (Session, error)

	// Rotate gives a session a new credential if its Generation is still
	// from: Generation becomes from+1, SecretHash secretHash, RotatedAt and
	// LastSeenAt now, IdleExpiresAt idleExpires. The previous token stops
	// working in the same step. ErrConflict if the generation moved,
	// ErrNotFound if the session is gone.
	Rotate(ctx context.Context, id string, from uint32, secretHash [32]byte, now, idleExpires time.Time) (Session, error)

	// Delete removes one session. ErrNotFound if it did not exist.
	Delete(ctx context.Context, id string) error

	// DeleteUserSessions removes every session of a user except exceptID
	// (which may be empty) in one atomic step and returns how many went.
	DeleteUserSessions(ctx context.Context, userID, exceptID string) (int, error)

	// ListUserSessions returns a user's sessions from a per-user index
	// (never a scan of all sessions). Expired ones may be included.
	ListUserSessions(ctx context.Context, userID string) ([]Session, error)

	// GetUser returns a stored user record, or ErrNotFound.
	GetUser(ctx context.Context, id string) (User, error)

	// PutUser creates or replaces a user record. Storing a banned user
	// deletes all of that user's sessions in the same atomic step and
	// returns how many went.
	PutUser(ctx context.Context, u User) (revoked int, err error)

	// Ping reports whether the store is reachable (for /readyz).
	Ping(ctx context.Context) error

	// Close releases connections and stops background work.
	Close() error
}

// Cache keeps validated sessions and their users in process memory (package
// nearcache), so that a session check costs no store round trip. The
// Manager asks it first and tells it about its own writes; keeping it
// coherent with the writes of other nodes is the cache's job.
//
// What it returns is a copy (records are values), so it can be shared
// between requests safely.
type Cache interface {
	// Get returns a cached session and its user, if the cache is live and
	// holds both.
	Get(id string) (Session, User, bool)
	// Loading marks the start of a store read; pass what it returns to Put.
	Loading() uint64
	// Put caches what a store read returned, unless something was
	// invalidated since Loading: a stale read is never cached.
	Put(loading uint64, s Session, u User)
	// Forget drops a session (sessionID) or everything of a user (userID)
	// after a write on this node; either may be empty.
	Forget(sessionID, userID string)
}
