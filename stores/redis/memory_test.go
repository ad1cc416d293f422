package redis

import (
	"crypto/rand"
	"crypto/sha256"
	"os"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testserver"
)

// placedSession is a session of user as the Manager would create it, with
// an id in the user's slot.
func placedSession(user, data string, client sessiond.Client) sessiond.Session {
	var raw [16]byte
	rand.Read(raw[:])
	sum := sha256.Sum256([]byte(user))
	raw[0] = sum[0]
	now := time.Now().UTC().Truncate(time.Millisecond)
	def := sessiond.DefaultConfig()
	return sessiond.Session{
		ID: sessionID(string(raw[:])), UserID: user, CreatedAt: now, AuthTime: now, LastSeenAt: now,
		ExpiresAt: now.Add(def.Lifetime), IdleExpiresAt: now.Add(def.IdleTimeout + def.TouchInterval),
		IdleTimeout: def.IdleTimeout, Client: client, Version: 1, SecretHash: sha256.Sum256(raw[:]),
	}.WithData([]byte(data))
}

var browser = sessiond.Client{IP: "203.0.113.7", UserAgent: chromeUA}

// TestMemoryPerKey reports MEMORY USAGE of one session key and of its
// bucket, and the packed value's length. It asserts nothing: the figure
// that counts (used_memory per session over a million of them) comes from
// `go run ./cmd/sessionbench memory`. Run with
// SESSIOND_REDIS_MEMORY_TEST=1 -v.
func TestMemoryPerKey(t *testing.T) {
	if os.Getenv("SESSIOND_REDIS_MEMORY_TEST") != "1" {
		t.Skip("set SESSIOND_REDIS_MEMORY_TEST=1 to measure")
	}
	s := open(t, testserver.Redis(t).URL)
	ctx := t.Context()
	for _, c := range []struct {
		name   string
		client sessiond.Client
	}{{"no client details", sessiond.Client{}}, {"desktop Chrome", browser}} {
		ss := placedSession("user-0000001", `{"cart":{}}`, c.client)
		if err := s.Create(ctx, ss); err != nil {
			t.Fatal(err)
		}
		v, _ := encodeSession(ss)
		k, _ := s.sessionOf(ss.ID)
		usage, err := s.client.Do(ctx, s.client.B().MemoryUsage().Key(k.key).Samples(0).Build()).AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: packed value %d bytes, key %d bytes, MEMORY USAGE %d bytes", c.name, len(v), len(k.key), usage)
		if _, err := s.DeleteUserSessions(ctx, ss.UserID, ""); err != nil {
			t.Fatal(err)
		}
	}
}
