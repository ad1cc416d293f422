package mysql

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/storeop"
)

// insertColumns are a session's columns, in the order of sessionArgs.
const insertColumns = `id, user_id, created_at, auth_time, last_seen_at, expires_at, idle_expires_at, idle_timeout_ms,
client_ip, user_agent, data, version, generation, secret_hash, rotated_at`

// sessionColumns is the SELECT list of a session, in the order of
// scanSession (times as text: see times.go); joinedSessionColumns names
// the table s, for the join with users, where "id" is ambiguous.
var (
	sessionColumns       = selectSession("")
	joinedSessionColumns = selectSession("s.")
)

func selectSession(table string) string {
	col := func(name string) string { return table + name }
	at := func(name string) string { return castTime(table + name) }
	return col("id") + ", " + col("user_id") + ", " + at("created_at") + ", " + at("auth_time") + ", " +
		at("last_seen_at") + ", " + at("expires_at") + ", " + at("idle_expires_at") + ", " +
		col("idle_timeout_ms") + ", " + col("client_ip") + ", " + col("user_agent") + ", " + col("data") + ", " +
		col("version") + ", " + col("generation") + ", " + col("secret_hash") + ", " + at("rotated_at")
}

// sessionArgs are the values of insertColumns.
func sessionArgs(s sessiond.Session) []any {
	return []any{s.ID, s.UserID, dbTime(s.CreatedAt), dbTime(s.AuthTime), dbTime(s.LastSeenAt),
		dbTime(s.ExpiresAt), dbTime(s.IdleExpiresAt), s.IdleTimeout.Milliseconds(),
		s.Client.IP, s.Client.UserAgent, []byte(s.Data()), s.Version, s.Generation, s.SecretHash[:],
		dbTimeOrNull(s.RotatedAt)}
}

type scanner interface{ Scan(dest ...any) error }

// scanSession reads a row of sessionColumns, then extra columns into
// extra. A missing row is ErrNotFound.
func scanSession(row scanner, extra ...any) (sessiond.Session, error) {
	var (
		s          sessiond.Session
		idleMS     int64
		data, hash []byte
	)
	dest := append([]any{&s.ID, &s.UserID, scanTime{&s.CreatedAt}, scanTime{&s.AuthTime},
		scanTime{&s.LastSeenAt}, scanTime{&s.ExpiresAt}, scanTime{&s.IdleExpiresAt},
		&idleMS, &s.Client.IP, &s.Client.UserAgent, &data, &s.Version, &s.Generation, &hash,
		scanTime{&s.RotatedAt}}, extra...)
	if err := row.Scan(dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return sessiond.Session{}, sessiond.ErrNotFound
		}
		return sessiond.Session{}, err
	}
	if len(hash) != len(s.SecretHash) {
		return sessiond.Session{}, fmt.Errorf("session %s: a secret hash of %d bytes", s.ID, len(hash))
	}
	copy(s.SecretHash[:], hash)
	s.IdleTimeout = time.Duration(idleMS) * time.Millisecond
	return s.WithData(data), nil
}

// insertSession inserts the session unless its user is banned, in one
// statement: INSERT … SELECT reads users with shared next-key locks (under
// REPEATABLE READ), so it waits for a ban being committed, and a ban waits
// for it; either way the ban's DELETE sees the session or the insert sees
// the ban.
const insertSession = `INSERT INTO sessions (` + insertColumns + `)
SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM DUAL
WHERE NOT EXISTS (SELECT 1 FROM users WHERE id = ? AND status = 'banned')`

// Create inserts the session unless the user is banned, atomically (see
// insertSession). Where the connections read committed, InnoDB takes no
// gap locks, so a ban of a user with no record yet could slip between the
// check and the insert: there the statement runs in a REPEATABLE READ
// transaction of its own, which locks the gap as the default level does.
func (s *Store) Create(ctx context.Context, ss sessiond.Session) error {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	args := append(sessionArgs(ss), ss.UserID)
	var (
		n   int64
		err error
	)
	if s.createInTx {
		err = s.inTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead}, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, insertSession, args...)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
	} else {
		n, err = s.exec(ctx, insertSession, args...)
	}
	if err != nil {
		return storeop.Wrap(engine, "create", err)
	}
	if n == 0 {
		return sessiond.ErrUserBanned
	}
	return nil
}

// Lookup reads the session and its user in one round trip.
func (s *Store) Lookup(ctx context.Context, id string) (sessiond.Session, sessiond.User, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	var (
		status       sql.NullString
		roles, attrs []byte
		updated      time.Time
	)
	ss, err := scanSession(s.db.QueryRowContext(ctx, `SELECT `+joinedSessionColumns+`,
	u.status, u.roles, u.attributes, `+castTime("u.updated_at")+`
FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE s.id = ?`, id),
		&status, &roles, &attrs, scanTime{&updated})
	if err != nil {
		return sessiond.Session{}, sessiond.User{}, storeop.Wrap(engine, "lookup", err)
	}
	if !status.Valid { // no record: the default user
		return ss, sessiond.User{ID: ss.UserID, Status: sessiond.UserActive}, nil
	}
	u, err := makeUser(ss.UserID, status.String, roles, attrs, updated)
	if err != nil {
		return sessiond.Session{}, sessiond.User{}, storeop.Wrap(engine, "lookup", err)
	}
	return ss, u, nil
}

// Touch moves the idle expiry. An UPDATE never creates a row, so touching a
// deleted session is a no-op.
func (s *Store) Touch(ctx context.Context, id string, lastSeen, idleExpires time.Time) error {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	_, err := s.exec(ctx, `UPDATE sessions SET last_seen_at = ?, idle_expires_at = ? WHERE id = ?`,
		dbTime(lastSeen), dbTime(idleExpires), id)
	return storeop.Wrap(engine, "touch", err)
}

// UpdateData is a compare-and-swap on version. MySQL has no UPDATE …
// RETURNING, and a transaction (begin, select for update, update, commit)
// would cost four round trips; instead the session is read after the swap
// and given the data and version the swap wrote. Its other fields are as
// they were just after the swap: a later touch or rotation shows, which is
// the truth anyway.
func (s *Store) UpdateData(ctx context.Context, id string, version int64, data json.RawMessage) (sessiond.Session, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	// version changes, so rows changed and rows matched are the same
	// count here, whatever clientFoundRows says.
	n, err := s.exec(ctx, `UPDATE sessions SET data = ?, version = version + 1 WHERE id = ? AND version = ?`,
		[]byte(data), id, version)
	if err != nil {
		return sessiond.Session{}, storeop.Wrap(engine, "update data", err)
	}
	if n == 0 {
		return sessiond.Session{}, storeop.Wrap(engine, "update data", s.conflictOrGone(ctx, id))
	}
	ss, err := s.get(ctx, id)
	if err != nil {
		return sessiond.Session{}, storeop.Wrap(engine, "update data", err)
	}
	ss = ss.WithData(data)
	ss.Version = version + 1
	return ss, nil
}

// Rotate is a compare-and-swap on the generation: the new credential
// replaces the old in one UPDATE, so the previous token stops working in
// the same step, and of concurrent rotations from one generation exactly
// one wins. The session is then read back, as in UpdateData, and given
// what the swap wrote.
func (s *Store) Rotate(ctx context.Context, id string, from uint32, secretHash [32]byte, now, idleExpires time.Time) (sessiond.Session, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	// The generation changes, so changed and matched rows are one count.
	n, err := s.exec(ctx, `UPDATE sessions
SET generation = generation + 1, secret_hash = ?, rotated_at = ?, last_seen_at = ?, idle_expires_at = ?
WHERE id = ? AND generation = ?`,
		secretHash[:], dbTime(now), dbTime(now), dbTime(idleExpires), id, from)
	if err != nil {
		return sessiond.Session{}, storeop.Wrap(engine, "rotate", err)
	}
	if n == 0 {
		return sessiond.Session{}, storeop.Wrap(engine, "rotate", s.conflictOrGone(ctx, id))
	}
	ss, err := s.get(ctx, id)
	if err != nil {
		return sessiond.Session{}, storeop.Wrap(engine, "rotate", err)
	}
	now = now.UTC().Truncate(time.Millisecond) // as stored
	ss.Generation, ss.SecretHash, ss.RotatedAt = from+1, secretHash, now
	ss.LastSeenAt, ss.IdleExpiresAt = now, idleExpires.UTC().Truncate(time.Millisecond)
	return ss, nil
}

// conflictOrGone tells a lost compare-and-swap from a deleted session.
func (s *Store) conflictOrGone(ctx context.Context, id string) error {
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM sessions WHERE id = ?`, id).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return sessiond.ErrNotFound
	case err != nil:
		return err
	}
	return sessiond.ErrConflict
}

func (s *Store) get(ctx context.Context, id string) (sessiond.Session, error) {
	return scanSession(s.db.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = ?`, id))
}

// Delete removes one session.
func (s *Store) Delete(ctx context.Context, id string) error {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	n, err := s.exec(ctx, `DELETE FROM sessions WHERE id = ?`, id)
	if err != nil {
		return storeop.Wrap(engine, "delete", err)
	}
	if n == 0 {
		return sessiond.ErrNotFound
	}
	return nil
}

// DeleteUserSessions is one DELETE, atomic on its own.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, exceptID string) (int, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	n, err := s.exec(ctx, `DELETE FROM sessions WHERE user_id = ? AND id <> ?`, userID, exceptID)
	return int(n), storeop.Wrap(engine, "delete user sessions", err)
}

// ListUserSessions reads the user index (user_id, created_at), oldest
// first.
func (s *Store) ListUserSessions(ctx context.Context, userID string) ([]sessiond.Session, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE user_id = ? ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, storeop.Wrap(engine, "list user sessions", err)
	}
	defer rows.Close()
	var out []sessiond.Session
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			return nil, storeop.Wrap(engine, "list user sessions", err)
		}
		out = append(out, ss)
	}
	return out, storeop.Wrap(engine, "list user sessions", rows.Err())
}
