package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/storeop"
	"github.com/sessiond/sessiond/server/apikey"
)

// The server's API keys live in the store, so every node sharing the store
// shares its keys. Only the SHA-256 of a key is kept.

func (s *Store) CreateAPIKey(ctx context.Context, k apikey.Key) error {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO api_keys (id, name, hash, created_at) VALUES ($1, $2, $3, $4)`,
		k.ID, k.Name, k.Hash, ms(k.CreatedAt))
	return storeop.Wrap(engine, "create api key", err)
}

// APIKeyByHash finds a key by the SHA-256 of the presented key: an index
// lookup on the hash, never a comparison of secrets.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (apikey.Key, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	k := apikey.Key{Hash: hash}
	err := s.pool.QueryRow(ctx, `SELECT id, name, created_at FROM api_keys WHERE hash = $1`, hash).
		Scan(&k.ID, &k.Name, &k.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return apikey.Key{}, sessiond.ErrNotFound
	}
	if err != nil {
		return apikey.Key{}, storeop.Wrap(engine, "api key by hash", err)
	}
	k.CreatedAt = ms(k.CreatedAt)
	return k, nil
}

// ListAPIKeys returns every key, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context) ([]apikey.Key, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT id, name, hash, created_at FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, storeop.Wrap(engine, "list api keys", err)
	}
	defer rows.Close()
	out := []apikey.Key{}
	for rows.Next() {
		var k apikey.Key
		if err := rows.Scan(&k.ID, &k.Name, &k.Hash, &k.CreatedAt); err != nil {
			return nil, storeop.Wrap(engine, "list api keys", err)
		}
		k.CreatedAt = ms(k.CreatedAt)
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
	tag, err := s.pool.Exec(ctx, `DELETE FROM api_keys WHERE id = $1`, id)
	if err != nil {
		return storeop.Wrap(engine, "delete api key", err)
	}
	if tag.RowsAffected() == 0 {
		return sessiond.ErrNotFound
	}
	return nil
}
