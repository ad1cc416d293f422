package redis

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testserver"
)

// placedSession is a session of user as the Manager would create it, with
// an id drawn straight into the user's bucket (the Manager draws tokens
// until one lands there: fine per sign-in, slow for 100k sessions).
func placedSession(user, data string, client sessiond.Client) *sessiond.Session {
	var b [32]byte
	rand.Read(b[:])
	tag, _ := hex.DecodeString(bucket(user))
	b[0] = tag[0]
	now := time.Now().UTC().Truncate(time.Millisecond)
	return &sessiond.Session{
		ID: hex.EncodeToString(b[:]), UserID: user, CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(sessiond.DefaultLifetime), IdleExpiresAt: now.Add(sessiond.DefaultIdleTimeout),
		IdleTimeout: sessiond.DefaultIdleTimeout, Client: client, Data: json.RawMessage(data), Version: 1,
	}
}

var browser = sessiond.Client{IP: "203.0.113.7", UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"}

// TestMemoryPerSession reports what a session costs in Redis: MEMORY USAGE
// of one session key next to the same session as a hash with one-letter
// fields (the alternative layout), and used_memory per session, index
// entries included, over 100k sessions. It asserts nothing: the figures go
// in the report. Run with SESSIOND_REDIS_MEMORY_TEST=1 -v.
func TestMemoryPerSession(t *testing.T) {
	if os.Getenv("SESSIOND_REDIS_MEMORY_TEST") != "1" {
		t.Skip("set SESSIOND_REDIS_MEMORY_TEST=1 to measure")
	}
	s := open(t, testserver.Redis(t).URL)
	ctx := t.Context()
	do := func(args ...string) string {
		t.Helper()
		v, err := s.client.Do(ctx, s.client.B().Arbitrary(args[0]).Args(args[1:]...).Build()).ToAny()
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(v)
	}

	for _, c := range []struct {
		name   string
		client sessiond.Client
	}{{"no client details", sessiond.Client{}}, {"browser client", browser}} {
		ss := placedSession("user-123456", `{"cart":{}}`, c.client)
		if err := s.Create(ctx, ss); err != nil {
			t.Fatal(err)
		}
		_, key, _, _ := s.sessionKey(ss.ID)
		hash := strings.Replace(key, ":s:", ":h:", 1) // a key of the same length
		do("HSET", hash, "u", ss.UserID, "c", ms(ss.CreatedAt), "e", ms(ss.ExpiresAt), "l", ms(ss.LastSeenAt),
			"i", ms(ss.IdleExpiresAt), "t", strconv.FormatInt(ss.IdleTimeout.Milliseconds(), 10),
			"a", ss.Client.IP, "g", ss.Client.UserAgent, "d", string(ss.Data), "v", "1")
		t.Logf("%s, data %s: MEMORY USAGE packed string %s B (%d B value); hash with one-letter fields %s B (%s)",
			c.name, ss.Data, do("MEMORY", "USAGE", key), len(mustEncode(t, ss)), do("MEMORY", "USAGE", hash), do("OBJECT", "ENCODING", hash))
		do("DEL", hash)
		s.DeleteUserSessions(ctx, ss.UserID, "")
	}

	const total = 100_000
	for _, perUser := range []int{1, 4, 20} {
		before := usedMemory(t, do("INFO", "memory"))
		users := total / perUser
		prefix := fmt.Sprintf("mem%d-", perUser)
		var wg sync.WaitGroup
		const workers = 16
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for u := w; u < users; u += workers {
					for range perUser {
						// rueidis pipelines the workers' scripts on its connections.
						if err := s.Create(ctx, placedSession(prefix+strconv.Itoa(u), `{"cart":{}}`, sessiond.Client{})); err != nil {
							t.Error(err)
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		after := usedMemory(t, do("INFO", "memory"))
		t.Logf("%d sessions, %d per user, no client details: used_memory +%d B = %d B per session, index included",
			total, perUser, after-before, (after-before)/total)
		for u := range users {
			if _, err := s.DeleteUserSessions(ctx, prefix+strconv.Itoa(u), ""); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func mustEncode(t *testing.T, ss *sessiond.Session) string {
	v, err := encodeSession(ss)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func usedMemory(t *testing.T, info string) int64 {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no used_memory in INFO")
	return 0
}
