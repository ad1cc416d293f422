package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sessiond/sessiond"
)

const sessionColumns = `id, user_id, created_at, last_seen_at, expires_at, idle_expires_at, idle_timeout_ms, client_ip, user_agent, data, version`

// qualifiedSessionColumns serves the join with users, where "id" is ambiguous.
var qualifiedSessionColumns = "s." + strings.ReplaceAll(sessionColumns, ", ", ", s.")

func scanSession(row pgx.Row, extra ...any) (*sessiond.Session, error) {
	var (
		s      sessiond.Session
		idleMS int64
		data   []byte
	)
	dest := append([]any{&s.ID, &s.UserID, &s.CreatedAt, &s.LastSeenAt, &s.ExpiresAt, &s.IdleExpiresAt,
		&idleMS, &s.Client.IP, &s.Client.UserAgent, &data, &s.Version}, extra...)
	if err := row.Scan(dest...); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, sessiond.ErrNotFound
		}
		return nil, err
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt, s.IdleExpiresAt = ms(s.CreatedAt), ms(s.LastSeenAt), ms(s.ExpiresAt), ms(s.IdleExpiresAt)
	s.IdleTimeout = time.Duration(idleMS) * time.Millisecond
	s.Data = json.RawMessage(data)
	return &s, nil
}

// ms gives times the precision and zone sessiond promises: milliseconds,
// UTC (timestamptz keeps microseconds; pgx returns local time).
func ms(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// jsonBytes is the JSON text to store, exactly as given; nil (which pgx
// would send as NULL) stands for the empty object.
func jsonBytes(raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return []byte("{}")
	}
	return raw
}

// fail wraps a driver error with the operation; domain errors pass as they
// are. Either way errors.Is works, and anything that is not a domain error
// reads as "store unavailable" to the callers, who fail closed.
func fail(op string, err error) error {
	var domain *sessiond.Error
	if err == nil || errors.As(err, &domain) {
		return err
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// userLockClass is the first key of the per-user advisory locks
// (pg_advisory_xact_lock(userLockClass, hashtext(user_id))): "sess" in
// ASCII. The two-key form never collides with the migration lock.
const userLockClass int32 = 0x73657373

// Create inserts a session unless the user is banned. A single INSERT ...
// WHERE NOT EXISTS (banned) is not enough under READ COMMITTED: its
// snapshot may predate a ban whose DELETE then misses the new row, and the
// session would come back to life on unban. So creation holds the user's
// advisory lock in shared mode (creations never wait for each other) and a
// ban holds it exclusively: the INSERT, a statement after the lock, sees
// every ban that committed before it, and a ban sees every session created
// before it. Both statements travel in one pipelined batch, which pgx runs
// as one implicit transaction: one round trip.
func (s *Store) Create(ctx context.Context, ss *sessiond.Session) error {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	b := &pgx.Batch{}
	b.Queue(`SELECT pg_advisory_xact_lock_shared($1, hashtext($2))`, userLockClass, ss.UserID)
	insert := b.Queue(`
INSERT INTO sessions (`+sessionColumns+`)
SELECT $1::text, $2::text, $3::timestamptz, $4::timestamptz, $5::timestamptz, $6::timestamptz,
	$7::bigint, $8::text, $9::text, $10::bytea, $11::bigint
WHERE NOT EXISTS (SELECT 1 FROM users WHERE id = $2 AND status = 'banned')`,
		ss.ID, ss.UserID, ms(ss.CreatedAt), ms(ss.LastSeenAt), ms(ss.ExpiresAt), ms(ss.IdleExpiresAt),
		ss.IdleTimeout.Milliseconds(), ss.Client.IP, ss.Client.UserAgent, jsonBytes(ss.Data), ss.Version)
	inserted := false
	insert.Exec(func(tag pgconn.CommandTag) error {
		inserted = tag.RowsAffected() == 1
		return nil
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fail("create", err)
	}
	if !inserted {
		return sessiond.ErrUserBanned
	}
	return nil
}

func (s *Store) Lookup(ctx context.Context, id string) (*sessiond.Session, *sessiond.User, error) {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	var (
		status  *string
		roles   []string
		attrs   []byte
		updated *time.Time
	)
	ss, err := scanSession(s.pool.QueryRow(ctx, `
SELECT `+qualifiedSessionColumns+`, u.status, u.roles, u.attributes, u.updated_at
FROM sessions s LEFT JOIN users u ON u.id = s.user_id
WHERE s.id = $1`, id), &status, &roles, &attrs, &updated)
	if err != nil {
		return nil, nil, fail("lookup", err)
	}
	if status == nil {
		return ss, sessiond.DefaultUser(ss.UserID), nil
	}
	return ss, makeUser(ss.UserID, *status, roles, attrs, *updated), nil
}

// Touch is an UPDATE, so it can never create a session.
func (s *Store) Touch(ctx context.Context, id string, lastSeen, idleExpires time.Time) error {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `UPDATE sessions SET last_seen_at = $1, idle_expires_at = $2 WHERE id = $3`,
		ms(lastSeen), ms(idleExpires), id)
	return fail("touch", err)
}

// UpdateData is a compare-and-swap on version in one statement: the row
// lock makes concurrent updates take turns, and an UPDATE cannot bring back
// a row that a revocation deleted. Only a successful swap announces itself
// (see invalidate.go); the nil skips pg_notify's void result.
func (s *Store) UpdateData(ctx context.Context, id string, version int64, data json.RawMessage) (*sessiond.Session, error) {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	ss, err := scanSession(s.pool.QueryRow(ctx, `
UPDATE sessions SET data = $1, version = version + 1
WHERE id = $2 AND version = $3
RETURNING `+sessionColumns+`, pg_notify($4, $5)`, jsonBytes(data), id, version, s.channel, sessionPrefix+id), nil)
	if !errors.Is(err, sessiond.ErrNotFound) {
		return ss, fail("update data", err)
	}
	return nil, s.conflictOrGone(ctx, id)
}

// conflictOrGone tells a lost compare-and-swap from a deleted session, after
// the UPDATE matched no row.
func (s *Store) conflictOrGone(ctx context.Context, id string) error {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sessions WHERE id = $1)`, id).Scan(&exists); err != nil {
		return fail("update data", err)
	}
	if exists {
		return sessiond.ErrConflict
	}
	return sessiond.ErrNotFound
}

// Rotate changes the primary key in place: data, created_at and version go
// along, the user index follows, and the old id is gone in the same step,
// announced with it (the new id is in no cache yet).
func (s *Store) Rotate(ctx context.Context, oldID, newID string, lastSeen, idleExpires time.Time) (*sessiond.Session, error) {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	ss, err := scanSession(s.pool.QueryRow(ctx, `
UPDATE sessions SET id = $1, last_seen_at = $2, idle_expires_at = $3
WHERE id = $4
RETURNING `+sessionColumns+`, pg_notify($5, $6)`, newID, ms(lastSeen), ms(idleExpires), oldID, s.channel, sessionPrefix+oldID), nil)
	return ss, fail("rotate", err)
}

func (s *Store) Delete(ctx context.Context, id string) error {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE id = $1 RETURNING pg_notify($2, $3)`,
		id, s.channel, sessionPrefix+id)
	if err != nil {
		return fail("delete", err)
	}
	if tag.RowsAffected() == 0 {
		return sessiond.ErrNotFound
	}
	return nil
}

// DeleteUserSessions deletes and announces in one batch: one round trip,
// one implicit transaction.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, exceptID string) (int, error) {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	b := &pgx.Batch{}
	var deleted int
	b.Queue(`DELETE FROM sessions WHERE user_id = $1 AND id <> $2`, userID, exceptID).Exec(func(tag pgconn.CommandTag) error {
		deleted = int(tag.RowsAffected())
		return nil
	})
	s.notify(b, userPrefix+userID)
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return 0, fail("delete user sessions", err)
	}
	return deleted, nil
}

func (s *Store) ListUserSessions(ctx context.Context, userID string) ([]*sessiond.Session, error) {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fail("list user sessions", err)
	}
	defer rows.Close()
	var out []*sessiond.Session
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			return nil, fail("list user sessions", err)
		}
		out = append(out, ss)
	}
	return out, fail("list user sessions", rows.Err())
}
