package redis

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/storeop"
	"github.com/sessiond/sessiond/server/apikey"
)

// apiKeyRecord is what is stored for an API key; its hash is the key name.
// The format is the previous version's, so its keys keep working.
type apiKeyRecord struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	CreatedAt int64  `json:"created_at"` // Unix ms
}

func (s *Store) apiKeyBase() string { return s.base("k") }

// CreateAPIKey stores a key's record (replacing one with the same id).
func (s *Store) CreateAPIKey(ctx context.Context, k apikey.Key) error {
	rec, err := json.Marshal(apiKeyRecord{ID: k.ID, Name: k.Name, CreatedAt: k.CreatedAt.UnixMilli()})
	if err != nil {
		return storeop.Wrap(engine, "create api key", err)
	}
	base := s.apiKeyBase()
	ctx, cancel := storeop.Bound(ctx, s.opts.OpTimeout)
	defer cancel()
	err = createKeyScript.Exec(ctx, s.client, []string{base + ":key:" + k.Hash, base + ":keys"}, []string{base, k.ID, k.Hash, string(rec)}).Error()
	return storeop.Wrap(engine, "create api key", err)
}

// APIKeyByHash is one GET: it runs on every management call.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (apikey.Key, error) {
	ctx, cancel := storeop.Bound(ctx, s.opts.OpTimeout)
	defer cancel()
	v, err := s.client.Do(ctx, s.client.B().Get().Key(s.apiKeyBase()+":key:"+hash).Build()).ToString()
	if isNil(err) {
		return apikey.Key{}, sessiond.ErrNotFound
	}
	if err != nil {
		return apikey.Key{}, storeop.Wrap(engine, "api key by hash", err)
	}
	k, err := decodeAPIKey(hash, v)
	return k, storeop.Wrap(engine, "api key by hash", err)
}

// ListAPIKeys returns every key, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context) ([]apikey.Key, error) {
	base := s.apiKeyBase()
	ctx, cancel := storeop.Bound(ctx, s.opts.OpTimeout)
	defer cancel()
	vals, err := listKeysScript.Exec(ctx, s.client, []string{base + ":keys"}, []string{base}).AsStrSlice()
	if err != nil {
		return nil, storeop.Wrap(engine, "list api keys", err)
	}
	out := make([]apikey.Key, 0, len(vals)/2)
	for i := 0; i+1 < len(vals); i += 2 {
		k, err := decodeAPIKey(vals[i], vals[i+1])
		if err != nil {
			return nil, storeop.Wrap(engine, "list api keys", err)
		}
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b apikey.Key) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// DeleteAPIKey removes a key by id, or returns ErrNotFound.
func (s *Store) DeleteAPIKey(ctx context.Context, id string) error {
	base := s.apiKeyBase()
	ctx, cancel := storeop.Bound(ctx, s.opts.OpTimeout)
	defer cancel()
	n, err := deleteKeyScript.Exec(ctx, s.client, []string{base + ":keys"}, []string{base, id}).AsInt64()
	switch {
	case err != nil:
		return storeop.Wrap(engine, "delete api key", err)
	case n == 0:
		return sessiond.ErrNotFound
	}
	return nil
}

func decodeAPIKey(hash, v string) (apikey.Key, error) {
	var r apiKeyRecord
	if err := json.Unmarshal([]byte(v), &r); err != nil {
		return apikey.Key{}, err
	}
	return apikey.Key{ID: r.ID, Name: r.Name, Hash: hash, CreatedAt: fromMillis(r.CreatedAt)}, nil
}
