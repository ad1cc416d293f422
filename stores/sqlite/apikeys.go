package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/storeop"
	"github.com/sessiond/sessiond/server/apikey"
)

// The server's API keys live in the store, so every node sharing the file
// shares them. Only the key's SHA-256 is kept (apikey.Key.Hash).

func (s *Store) CreateAPIKey(ctx context.Context, k apikey.Key) error {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	_, err := s.exec(ctx, `INSERT INTO api_keys (id, name, hash, created_at) VALUES (?, ?, ?, ?)`,
		k.ID, k.Name, k.Hash, k.CreatedAt.UnixMilli())
	return storeop.Wrap(engine, "create api key", err)
}

func (s *Store) APIKeyByHash(ctx context.Context, hash string) (apikey.Key, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	k := apikey.Key{Hash: hash}
	var created int64
	err := s.read.QueryRowContext(ctx, `SELECT id, name, created_at FROM api_keys WHERE hash = ?`, hash).
		Scan(&k.ID, &k.Name, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return apikey.Key{}, sessiond.ErrNotFound
	}
	if err != nil {
		return apikey.Key{}, storeop.Wrap(engine, "api key by hash", err)
	}
	k.CreatedAt = ms(created)
	return k, nil
}

// ListAPIKeys returns every key, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context) ([]apikey.Key, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	rows, err := s.read.QueryContext(ctx, `SELECT id, name, hash, created_at FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, storeop.Wrap(engine, "list api keys", err)
	}
	defer rows.Close()
	out := []apikey.Key{}
	for rows.Next() {
		var k apikey.Key
		var created int64
		if err := rows.Scan(&k.ID, &k.Name, &k.Hash, &created); err != nil {
			return nil, storeop.Wrap(engine, "list api keys", err)
		}
		k.CreatedAt = ms(created)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, storeop.Wrap(engine, "list api keys", err)
	}
	return out, nil
}

func (s *Store) DeleteAPIKey(ctx context.Context, id string) error {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	n, err := s.execRows(ctx, `DELETE FROM api_keys WHERE id = ?`, id)
	if err != nil {
		return storeop.Wrap(engine, "delete api key", err)
	}
	if n == 0 {
		return sessiond.ErrNotFound
	}
	return nil
}
