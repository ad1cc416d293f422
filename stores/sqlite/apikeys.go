package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/sessiond/sessiond"
)

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return sessiond.ErrNotFound
	}
	return err
}

func (s *Store) CreateAPIKey(ctx context.Context, k *sessiond.APIKey) error {
	_, err := s.write.ExecContext(ctx, `INSERT INTO api_keys (id, name, hash, created_at) VALUES (?, ?, ?, ?)`,
		k.ID, k.Name, k.Hash, k.CreatedAt.UnixMilli())
	return err
}

func (s *Store) APIKeyByHash(ctx context.Context, hash string) (*sessiond.APIKey, error) {
	k := &sessiond.APIKey{Hash: hash}
	var created int64
	if err := s.read.QueryRowContext(ctx, `SELECT id, name, created_at FROM api_keys WHERE hash = ?`, hash).
		Scan(&k.ID, &k.Name, &created); err != nil {
		return nil, notFound(err)
	}
	k.CreatedAt = ms(created)
	return k, nil
}

func (s *Store) ListAPIKeys(ctx context.Context) ([]*sessiond.APIKey, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, name, hash, created_at FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*sessiond.APIKey
	for rows.Next() {
		k := &sessiond.APIKey{}
		var created int64
		if err := rows.Scan(&k.ID, &k.Name, &k.Hash, &created); err != nil {
			return nil, err
		}
		k.CreatedAt = ms(created)
		out = append(out, k)
	}
	return out, rows.Err()
}

func (s *Store) DeleteAPIKey(ctx context.Context, id string) error {
	res, err := s.write.ExecContext(ctx, `DELETE FROM api_keys WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return sessiond.ErrNotFound
	}
	return nil
}
