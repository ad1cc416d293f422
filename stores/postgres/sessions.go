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
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/storeop"
)

const sessionColumns = `id, user_id, created_at, auth_time, last_seen_at, expires_at, idle_expires_at, idle_timeout_ms, ` +
	`client_ip, user_agent, data, version, generation, secret_hash, rotated_at`

// qualifiedSessionColumns serves the join with users, where "id" is ambiguous.
var qualifiedSessionColumns = "s." + strings.ReplaceAll(sessionColumns, ", ", ", s.")

// scanSession reads a row of sessionColumns (then extra) into a new value:
// nothing the store keeps is shared with the caller.
func scanSession(row pgx.Row, extra ...any) (sessiond.Session, error) {
	var (
		s       sessiond.Session
		idleMS  int64
		data    []byte
		hash    []byte
		rotated pgtype.Timestamptz
	)
	dest := append([]any{&s.ID, &s.UserID, &s.CreatedAt, &s.AuthTime, &s.LastSeenAt, &s.ExpiresAt, &s.IdleExpiresAt,
		&idleMS, &s.Client.IP, &s.Client.UserAgent, &data, &s.Version, &s.Generation, &hash, &rotated}, extra...)
	if err := row.Scan(dest...); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return sessiond.Session{}, sessiond.ErrNotFound
		}
		return sessiond.Session{}, err
	}
	if len(hash) != len(s.SecretHash) { // the schema's CHECK makes this impossible
		return sessiond.Session{}, fmt.Errorf("session %s: stored secret hash has %d bytes", s.ID, len(hash))
	}
	copy(s.SecretHash[:], hash)
	if rotated.Valid {
		s.RotatedAt = ms(rotated.Time)
	}
	s.CreatedAt, s.AuthTime, s.LastSeenAt = ms(s.CreatedAt), ms(s.AuthTime), ms(s.LastSeenAt)
	s.ExpiresAt, s.IdleExpiresAt = ms(s.ExpiresAt), ms(s.IdleExpiresAt)
	s.IdleTimeout = time.Duration(idleMS) * time.Millisecond
	return s.WithData(data), nil
}

// ms gives times the precision and zone sessiond promises: milliseconds,
// UTC (timestamptz keeps microseconds; pgx returns local time).
func ms(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// nullTime stores the zero time ("never") as NULL.
func nullTime(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: ms(t), Valid: !t.IsZero()}
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
// as one implicit transaction: one round trip. A creation is not announced
// (a new session is in no cache).
func (s *Store) Create(ctx context.Context, ss sessiond.Session) error {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	b := &pgx.Batch{}
	b.Queue(`SELECT pg_advisory_xact_lock_shared($1, hashtext($2))`, userLockClass, ss.UserID)
	inserted := false
	b.Queue(`
INSERT INTO sessions (`+sessionColumns+`)
SELECT $1::text, $2::text, $3::timestamptz, $4::timestamptz, $5::timestamptz, $6::timestamptz, $7::timestamptz,
	$8::bigint, $9::text, $10::text, $11::bytea, $12::bigint, $13::bigint, $14::bytea, $15::timestamptz
WHERE NOT EXISTS (SELECT 1 FROM users WHERE id = $2 AND status = 'banned')`,
		ss.ID, ss.UserID, ms(ss.CreatedAt), ms(ss.AuthTime), ms(ss.LastSeenAt), ms(ss.ExpiresAt), ms(ss.IdleExpiresAt),
		ss.IdleTimeout.Milliseconds(), ss.Client.IP, ss.Client.UserAgent, []byte(ss.Data()), ss.Version,
		ss.Generation, ss.SecretHash[:], nullTime(ss.RotatedAt),
	).Exec(func(tag pgconn.CommandTag) error {
		inserted = tag.RowsAffected() == 1
		return nil
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return storeop.Wrap(engine, "create", err)
	}
	if !inserted {
		return sessiond.ErrUserBanned
	}
	return nil
}

// Lookup reads a session and its user's record in one query (a join on the
// primary keys).
func (s *Store) Lookup(ctx context.Context, id string) (sessiond.Session, sessiond.User, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	var (
		status  pgtype.Text
		roles   []string
		attrs   []byte
		updated pgtype.Timestamptz
	)
	ss, err := scanSession(s.pool.QueryRow(ctx, `
SELECT `+qualifiedSessionColumns+`, u.status, u.roles, u.attributes, u.updated_at
FROM sessions s LEFT JOIN users u ON u.id = s.user_id
WHERE s.id = $1`, id), &status, &roles, &attrs, &updated)
	if err != nil {
		return sessiond.Session{}, sessiond.User{}, storeop.Wrap(engine, "lookup", err)
	}
	if !status.Valid {
		return ss, sessiond.User{ID: ss.UserID, Status: sessiond.UserActive}, nil
	}
	return ss, makeUser(ss.UserID, status.String, roles, attrs, updated.Time), nil
}

// Touch slides the idle expiry. It is never announced: sliding expiry must
// not turn every request into a broadcast. An UPDATE finds no row of a
// session that is gone, so a touch never brings one back.
func (s *Store) Touch(ctx context.Context, id string, lastSeen, idleExpires time.Time) error {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	_, err := s.pool.Exec(ctx, `UPDATE sessions SET last_seen_at = $1, idle_expires_at = $2 WHERE id = $3`,
		ms(lastSeen), ms(idleExpires), id)
	return storeop.Wrap(engine, "touch", err)
}

// UpdateData is a compare-and-swap on version in one statement: the row
// lock makes concurrent updates take turns, and an UPDATE cannot bring back
// a row that a revocation deleted. Only a successful swap announces itself
// (see invalidate.go); the nil skips pg_notify's void result.
func (s *Store) UpdateData(ctx context.Context, id string, version int64, data json.RawMessage) (sessiond.Session, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	if len(data) == 0 {
		data = json.RawMessage("{}") // NOT NULL; nil would be sent as NULL
	}
	ss, err := scanSession(s.pool.QueryRow(ctx, `
UPDATE sessions SET data = $1, version = version + 1
WHERE id = $2 AND version = $3
RETURNING `+sessionColumns+`, pg_notify($4, $5)`, []byte(data), id, version, s.channel, sessionPrefix+id), nil)
	if errors.Is(err, sessiond.ErrNotFound) {
		err = s.conflictOrGone(ctx, id)
	}
	return ss, storeop.Wrap(engine, "update data", err)
}

// Rotate is a compare-and-swap on the generation in one statement, like
// UpdateData: of concurrent rotations of one session exactly one wins, and
// the previous token stops working in the same step, announced with it.
// The id, the data, the version and the auth time stay.
func (s *Store) Rotate(ctx context.Context, id string, from uint32, secretHash [32]byte, now, idleExpires time.Time) (sessiond.Session, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	ss, err := scanSession(s.pool.QueryRow(ctx, `
UPDATE sessions SET generation = generation + 1, secret_hash = $1, rotated_at = $2, last_seen_at = $2, idle_expires_at = $3
WHERE id = $4 AND generation = $5
RETURNING `+sessionColumns+`, pg_notify($6, $7)`,
		secretHash[:], ms(now), ms(idleExpires), id, from, s.channel, sessionPrefix+id), nil)
	if errors.Is(err, sessiond.ErrNotFound) {
		err = s.conflictOrGone(ctx, id)
	}
	return ss, storeop.Wrap(engine, "rotate", err)
}

// conflictOrGone tells a lost compare-and-swap from a deleted session, after
// the UPDATE matched no row.
func (s *Store) conflictOrGone(ctx context.Context, id string) error {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sessions WHERE id = $1)`, id).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return sessiond.ErrConflict
	}
	return sessiond.ErrNotFound
}

// Delete removes a session, announced in the same statement.
func (s *Store) Delete(ctx context.Context, id string) error {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE id = $1 RETURNING pg_notify($2, $3)`,
		id, s.channel, sessionPrefix+id)
	if err != nil {
		return storeop.Wrap(engine, "delete", err)
	}
	if tag.RowsAffected() == 0 {
		return sessiond.ErrNotFound
	}
	return nil
}

// DeleteUserSessions deletes and announces in one statement: one message
// for the user, not one per row, and none if nothing was deleted.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, exceptID string) (int, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	var deleted int
	err := s.pool.QueryRow(ctx, `
WITH gone AS (DELETE FROM sessions WHERE user_id = $1 AND id <> $2 RETURNING 1),
	n AS (SELECT count(*) AS n FROM gone)
SELECT n, CASE WHEN n > 0 THEN pg_notify($3, $4) END FROM n`,
		userID, exceptID, s.channel, userPrefix+userID).Scan(&deleted, nil)
	if err != nil {
		return 0, storeop.Wrap(engine, "delete user sessions", err)
	}
	return deleted, nil
}

// ListUserSessions reads a user's sessions from the per-user index, oldest
// first.
func (s *Store) ListUserSessions(ctx context.Context, userID string) ([]sessiond.Session, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, storeop.Wrap(engine, "list user sessions", err)
	}
	defer rows.Close()
	out := []sessiond.Session{}
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			return nil, storeop.Wrap(engine, "list user sessions", err)
		}
		out = append(out, ss)
	}
	if err := rows.Err(); err != nil {
		return nil, storeop.Wrap(engine, "list user sessions", err)
	}
	return out, nil
}
