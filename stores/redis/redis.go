// Package redis is the shared sessiond.Store on Redis ≥ 7, standalone or
// Redis Cluster, through the application's own github.com/redis/rueidis
// client (pipelined, so one connection or a few serve any number of
// concurrent calls):
//
//	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{"127.0.0.1:6379"}})
//	...
//	store, err := redis.New(client, redis.Options{})
//
// (package stores opens one from a URL.) Redis expires sessions by itself,
// so there is no sweeper. Sessions last across a Redis restart only if the
// server persists (AOF or RDB): without persistence a restart signs
// everyone out, which fails closed. Run it with maxmemory-policy
// noeviction: a full Redis then refuses new sessions (an error, 503),
// whereas an eviction could drop an index bucket and hide live sessions
// from "sign out everywhere" and a ban.
//
// # Keys
//
// Every key of a user carries the hash tag of the user's bucket, the first
// two hex digits of SHA-256(user id), so that one Lua script can revoke all
// of a user's sessions atomically even on a cluster. The Manager makes the
// first byte of every session id that same byte (the Placement rule of
// sessiond.Store), so a session is found by its id alone, in its user's
// slot. With the default prefix:
//
//	sd:{ab}:s:<id>        a session: a packed string (codec.go) whose TTL is
//	                      its idle expiry; <id> is the 16 raw bytes of the id
//	sd:{ab}:b:<cd>        an index bucket: the sessions of the users whose
//	                      SHA-1 begins with cd (mod 128), as a sorted set of
//	                      <id><user id> scored by idle expiry (s); a user id
//	                      over 47 bytes is 0x00 and its SHA-1 there, so that
//	                      every member fits a listpack
//	sd:{ab}:u:<user id>   a user record (hash; no TTL)
//	sd:{k}:key:<hash>     an API key's record; sd:{k}:keys lists them
//	sd:t:<id>             a redeemed one-time token, until it expires
//
// The per-user index is shared by the users of a bucket (32768 buckets in
// all) instead of one key per user: a key costs about 110 bytes of Redis
// memory before its first byte of content, as much as the session it
// indexes, whereas an entry in a bucket costs its bytes. Buckets stay
// listpacks (compact, no pointer per entry) up to zset-max-listpack-entries
// (128 by default), that is up to about 3 million sessions; past that the
// fullest buckets turn into skip lists and cost more per entry. A bucket
// lives as long as its latest session, and scripts trim its expired entries
// whenever they write to it.
//
// # The previous version's keys
//
// User records and API keys keep the previous version's keys and formats,
// so they stay readable where they are. Its sessions (sd:{ab}:s: with a
// 32-byte id, the SHA-256 of their token) and per-user indexes
// (sd:{ab}:i:<user id>) are simply never found: their users sign in again,
// and the keys expire by their TTL.
package redis

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/storeop"
)

// Options configure a Store. The zero value is safe.
type Options struct {
	// KeyPrefix starts every key and the invalidation channel (default
	// "sd:"), so that several deployments share a server without seeing
	// each other. It must not contain { or }, which would change the
	// keys' hash slots.
	KeyPrefix string
	// OpTimeout bounds every call, whatever the caller's deadline (default
	// storeop.DefaultTimeout), so that a dead server answers an error,
	// never a hang.
	OpTimeout time.Duration
	// CloseClient makes Close close the client too. Leave it false for a
	// client the application goes on using.
	CloseClient bool
}

// DefaultKeyPrefix is the key prefix when Options.KeyPrefix is empty.
const DefaultKeyPrefix = "sd:"

// engine names the store in wrapped errors.
const engine = "redis"

// Store is a Redis-backed sessiond.Store. It is safe for concurrent use.
type Store struct {
	client  rueidis.Client
	opts    Options
	channel string
}

var _ sessiond.Store = (*Store)(nil)

// New returns a store on client, which stays the caller's unless
// opts.CloseClient is set.
func New(client rueidis.Client, opts Options) (*Store, error) {
	if client == nil {
		return nil, errors.New("redis: New needs a client")
	}
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = DefaultKeyPrefix
	}
	if strings.ContainsAny(opts.KeyPrefix, "{}") {
		return nil, errors.New("redis: the key prefix must not contain { or }")
	}
	return &Store{client: client, opts: opts, channel: opts.KeyPrefix + "inv"}, nil
}

// Close closes the client if Options.CloseClient says so; calls in flight
// finish first.
func (s *Store) Close() error {
	if s.opts.CloseClient {
		s.client.Close()
	}
	return nil
}

// Ping checks every node (on a cluster, a node that is down leaves some
// users without sessions, so the store is not ready).
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := storeop.Bound(ctx, s.opts.OpTimeout)
	defer cancel()
	for _, node := range s.client.Nodes() {
		if err := node.Do(ctx, node.B().Ping().Build()).Error(); err != nil {
			return storeop.Wrap(engine, "ping", err)
		}
	}
	return nil
}

// tagOf is the hash tag of a bucket byte: two hex digits. 256 tags spread
// users over every node of a cluster (16384 slots, but a cluster rarely
// has more than a few dozen nodes).
func tagOf(b byte) string { return hex.EncodeToString([]byte{b}) }

// userTag is the tag of a user's keys: the first byte of SHA-256(user id).
func userTag(userID string) string {
	sum := sha256.Sum256([]byte(userID))
	return tagOf(sum[0])
}

// base is the tagged start of every key of one tag: "sd:{ab}".
func (s *Store) base(tag string) string { return s.opts.KeyPrefix + "{" + tag + "}" }

// session names a session's keys: its tagged base, its key and its raw id.
type session struct {
	tag, base, key, raw string
}

// sessionOf returns the keys of a session id, or false if id is not one
// (then no such session can exist).
func (s *Store) sessionOf(id string) (session, bool) {
	var raw [16]byte
	if len(id) != 22 {
		return session{}, false
	}
	if n, err := base64.RawURLEncoding.Strict().Decode(raw[:], []byte(id)); err != nil || n != 16 {
		return session{}, false
	}
	tag := tagOf(raw[0])
	base := s.base(tag)
	return session{tag: tag, base: base, key: base + ":s:" + string(raw[:]), raw: string(raw[:])}, true
}

// sessionID is the text of a raw id.
func sessionID(raw string) string { return base64.RawURLEncoding.EncodeToString([]byte(raw)) }

// user names a user's keys: the tagged base, the record and the index
// bucket.
type user struct {
	base, record, bucket string
}

func (s *Store) userOf(userID string) user {
	base := s.base(userTag(userID))
	return user{base: base, record: base + ":u:" + userID, bucket: base + ":b:" + bucketOf(userID)}
}

// bucketOf is a user's index bucket within its tag, 128 of them: the
// scripts compute it too (redis.sha1hex), so it uses a hash Redis's Lua
// has. It partitions, it protects nothing.
func bucketOf(userID string) string {
	sum := sha1.Sum([]byte(userID))
	return tagOf(sum[0] % 128)
}

// maxEntryUserID is the longest user id an index member holds as it is:
// 16 + 47 bytes stay within zset-max-listpack-value (64 by default), so a
// bucket stays a listpack.
const maxEntryUserID = 47

// indexMember is a session's member in its user's bucket: the raw id, then
// the user id, or for a long one a 0 byte and its SHA-1 (the scripts'
// entry()).
func indexMember(raw, userID string) string {
	if len(userID) <= maxEntryUserID {
		return raw + userID
	}
	sum := sha1.Sum([]byte(userID))
	return raw + "\x00" + string(sum[:])
}

// placed reports whether a session id lies in its user's slot.
func (ss session) placed(userID string) bool { return ss.tag == userTag(userID) }
