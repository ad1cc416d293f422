package mysql

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sessiond/sessiond"
)

func makeUser(id, status string, roles, attrs []byte, updated time.Time) (*sessiond.User, error) {
	u := &sessiond.User{ID: id, Status: sessiond.UserStatus(status), Attributes: attrs, UpdatedAt: updated}
	if err := json.Unmarshal(roles, &u.Roles); err != nil {
		return nil, fmt.Errorf("mysql: user %q: corrupt roles: %w", id, err)
	}
	if u.Roles == nil {
		u.Roles = []string{}
	}
	return u, nil
}

func (s *Store) GetUser(ctx context.Context, id string) (*sessiond.User, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var (
		status       string
		roles, attrs []byte
		updated      time.Time
	)
	err := s.db.QueryRowContext(ctx, `SELECT status, roles, attributes, updated_at FROM users WHERE id = ?`, id).
		Scan(&status, &roles, &attrs, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, sessiond.ErrNotFound
	}
	if err != nil {
		return nil, wrap("get user", err)
	}
	return makeUser(id, status, roles, attrs, updated)
}

// PutUser upserts the record; a ban deletes the user's sessions in the same
// transaction. The upsert comes first: its exclusive lock on the user row
// makes a concurrent Create wait and then see the ban.
func (s *Store) PutUser(ctx context.Context, u *sessiond.User) (int, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	roles, err := json.Marshal(u.Roles)
	if err != nil {
		return 0, err
	}
	// Values are repeated rather than read with VALUES(), which MySQL 8
	// deprecates and MariaDB's replacement syntax does not share.
	const upsert = `INSERT INTO users (id, status, roles, attributes, updated_at) VALUES (?, ?, ?, ?, ?)
ON DUPLICATE KEY UPDATE status = ?, roles = ?, attributes = ?, updated_at = ?`
	args := []any{u.ID, string(u.Status), roles, []byte(u.Attributes), u.UpdatedAt,
		string(u.Status), roles, []byte(u.Attributes), u.UpdatedAt}
	if u.Status != sessiond.UserBanned {
		_, err := s.exec(ctx, upsert, args...)
		return 0, wrap("put user", err)
	}
	var revoked int64
	err = s.inTx(ctx, func(tx *sql.Tx) error {
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
	return int(revoked), wrap("put user", err)
}
