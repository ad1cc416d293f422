package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
)

const sessionColumns = `id, user_id, created_at, last_seen_at, expires_at, idle_expires_at, idle_timeout_ms, client_ip, user_agent, data, version`

// qualifiedSessionColumns serves the join with users, where "id" is ambiguous.
var qualifiedSessionColumns = "s." + strings.ReplaceAll(sessionColumns, ", ", ", s.")

type scanner interface{ Scan(dest ...any) error }

func scanSession(row scanner, extra ...any) (*sessiond.Session, error) {
	var (
		s                            sessiond.Session
		created, seen, exp, idle, to int64
		data                         string
	)
	dest := append([]any{&s.ID, &s.UserID, &created, &seen, &exp, &idle, &to, &s.Client.IP, &s.Client.UserAgent, &data, &s.Version}, extra...)
	if err := row.Scan(dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, sessiond.ErrNotFound
		}
		return nil, err
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt, s.IdleExpiresAt = ms(created), ms(seen), ms(exp), ms(idle)
	s.IdleTimeout = time.Duration(to) * time.Millisecond
	s.Data = json.RawMessage(data)
	return &s, nil
}

func ms(v int64) time.Time { return time.UnixMilli(v).UTC() }

func (s *Store) Create(ctx context.Context, ss *sessiond.Session) error {
	// The banned check and the insert are one statement, so a ban that
	// commits first always wins.
	res, err := s.write.ExecContext(ctx, `
INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at, idle_expires_at,
	idle_timeout_ms, client_ip, user_agent, data, version)
SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
WHERE NOT EXISTS (SELECT 1 FROM users WHERE id = ? AND status = 'banned')`,
		ss.ID, ss.UserID, ss.CreatedAt.UnixMilli(), ss.LastSeenAt.UnixMilli(), ss.ExpiresAt.UnixMilli(),
		ss.IdleExpiresAt.UnixMilli(), ss.IdleTimeout.Milliseconds(), ss.Client.IP, ss.Client.UserAgent,
		string(ss.Data), ss.Version, ss.UserID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return sessiond.ErrUserBanned
	}
	return nil
}

func (s *Store) Lookup(ctx context.Context, id string) (*sessiond.Session, *sessiond.User, error) {
	var (
		status, roles, attrs sql.NullString
		updated              sql.NullInt64
	)
	ss, err := scanSession(s.read.QueryRowContext(ctx, `SELECT `+qualifiedSessionColumns+`, u.status, u.roles, u.attributes, u.updated_at
FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE s.id = ?`, id), &status, &roles, &attrs, &updated)
	if err != nil {
		return nil, nil, err
	}
	if !status.Valid {
		return ss, sessiond.DefaultUser(ss.UserID), nil
	}
	u, err := makeUser(ss.UserID, status.String, roles.String, attrs.String, updated.Int64)
	return ss, u, err
}

func (s *Store) Touch(ctx context.Context, id string, lastSeen, idleExpires time.Time) error {
	_, err := s.write.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ?, idle_expires_at = ? WHERE id = ?`,
		lastSeen.UnixMilli(), idleExpires.UnixMilli(), id)
	return err
}

func (s *Store) UpdateData(ctx context.Context, id string, version int64, data json.RawMessage) (*sessiond.Session, error) {
	ss, err := scanSession(s.write.QueryRowContext(ctx, `UPDATE sessions SET data = ?, version = version + 1
WHERE id = ? AND version = ? RETURNING `+sessionColumns, string(data), id, version))
	if !errors.Is(err, sessiond.ErrNotFound) {
		return ss, err
	}
	return nil, s.conflictOrGone(ctx, id)
}

// conflictOrGone tells a lost compare-and-swap from a deleted session.
func (s *Store) conflictOrGone(ctx context.Context, id string) error {
	var one int
	err := s.write.QueryRowContext(ctx, `SELECT 1 FROM sessions WHERE id = ?`, id).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return sessiond.ErrNotFound
	case err != nil:
		return err
	}
	return sessiond.ErrConflict
}

func (s *Store) Rotate(ctx context.Context, oldID, newID string, lastSeen, idleExpires time.Time) (*sessiond.Session, error) {
	return scanSession(s.write.QueryRowContext(ctx, `UPDATE sessions SET id = ?, last_seen_at = ?, idle_expires_at = ?
WHERE id = ? RETURNING `+sessionColumns, newID, lastSeen.UnixMilli(), idleExpires.UnixMilli(), oldID))
}

func (s *Store) Delete(ctx context.Context, id string) error {
	res, err := s.write.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return sessiond.ErrNotFound
	}
	return nil
}

func (s *Store) DeleteUserSessions(ctx context.Context, userID, exceptID string) (int, error) {
	res, err := s.write.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ? AND id <> ?`, userID, exceptID)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

func (s *Store) ListUserSessions(ctx context.Context, userID string) ([]*sessiond.Session, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE user_id = ? ORDER BY created_at`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*sessiond.Session
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ss)
	}
	return out, rows.Err()
}
