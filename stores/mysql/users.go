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

// makeUser builds a user from its columns: roles are a JSON array,
// attributes the JSON object as written.
func makeUser(id, status string, roles, attrs []byte, updated time.Time) (sessiond.User, error) {
	var list []string
	if err := json.Unmarshal(roles, &list); err != nil {
		return sessiond.User{}, fmt.Errorf("user %q: corrupt roles: %w", id, err)
	}
	u := sessiond.User{ID: id, Status: sessiond.UserStatus(status), UpdatedAt: updated}
	return u.WithRoles(list...).WithAttributes(attrs), nil
}

func (s *Store) GetUser(ctx context.Context, id string) (sessiond.User, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	var (
		status       string
		roles, attrs []byte
		updated      time.Time
	)
	err := s.db.QueryRowContext(ctx, `SELECT status, roles, attributes, `+castTime("updated_at")+` FROM users WHERE id = ?`, id).
		Scan(&status, &roles, &attrs, scanTime{&updated})
	if errors.Is(err, sql.ErrNoRows) {
		return sessiond.User{}, sessiond.ErrNotFound
	}
	if err != nil {
		return sessiond.User{}, storeop.Wrap(engine, "get user", err)
	}
	u, err := makeUser(id, status, roles, attrs, updated)
	return u, storeop.Wrap(engine, "get user", err)
}

// PutUser upserts the record; a ban deletes the user's sessions in the same
// transaction. The upsert comes first: its exclusive lock on the user row
// (or on the gap where it goes) makes a concurrent Create wait and then
// see the ban.
func (s *Store) PutUser(ctx context.Context, u sessiond.User) (int, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	roles, err := json.Marshal(u.Roles())
	if err != nil {
		return 0, storeop.Wrap(engine, "put user", err)
	}
	attrs, updated := []byte(u.Attributes()), dbTime(u.UpdatedAt)
	// Values are repeated rather than read with VALUES(), which MySQL 8
	// deprecates and MariaDB's replacement syntax does not share.
	const upsert = `INSERT INTO users (id, status, roles, attributes, updated_at) VALUES (?, ?, ?, ?, ?)
ON DUPLICATE KEY UPDATE status = ?, roles = ?, attributes = ?, updated_at = ?`
	args := []any{u.ID, string(u.Status), roles, attrs, updated, string(u.Status), roles, attrs, updated}
	if !u.Banned() {
		_, err := s.exec(ctx, upsert, args...)
		return 0, storeop.Wrap(engine, "put user", err)
	}
	var revoked int64
	err = s.inTx(ctx, nil, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, upsert, args...); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, u.ID)
		if err != nil {
			return err
		}
		revoked, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, storeop.Wrap(engine, "put user", err)
	}
	return int(revoked), nil
}
