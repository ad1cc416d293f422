package sessionhttp_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/nearcache"
	"github.com/sessiond/sessiond/sessionhttp"
	"github.com/sessiond/sessiond/stores/memory"
)

// A handler that edits what FromContext gave it — the slice Roles returned,
// the bytes Data returned, the records' fields — changes nothing that the
// next request sees, even when both requests are answered from the near
// cache. (Before records were values, the first of these edits was enough
// to pass RequireRole("admin") on the next request.)
func TestHandlersCannotCorruptRecords(t *testing.T) {
	store := memory.New()
	cache, err := nearcache.New(store, nearcache.Options{MaxStaleness: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cache.Close)
	waitHealthy(t, cache)
	a := newApp(t, store, sessiond.Config{Cache: cache}, sessionhttp.Options{})
	if _, err := a.m.PutUser(t.Context(), sessiond.User{ID: "alice", Status: sessiond.UserActive}.WithRoles("customer")); err != nil {
		t.Fatal(err)
	}
	c := a.login("alice")
	if w := a.do("POST", "/data", withCookie(c), withBody(`{"cart":{"tea":1}}`)); w.Code != http.StatusOK {
		t.Fatalf("patch: %d %s", w.Code, w.Body)
	}
	before := a.me(c) // loads the session and the user into the cache

	tamper := a.sessions.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, user, ok := sessionhttp.FromContext(r.Context())
		if !ok {
			t.Fatal("no session")
		}
		roles := user.Roles()
		roles = append(roles[:0], "admin") // in place, over "customer"
		_ = append(roles, "admin")
		data := sess.Data()
		copy(data[bytes.Index(data, []byte("tea")):], "pwn")
		sess.UserID, sess.ExpiresAt, sess.IdleExpiresAt = "root", time.Now().Add(24*time.Hour), time.Now().Add(24*time.Hour)
		user.ID, user.Status = "root", sessiond.UserActive
		user = user.WithRoles("admin")
		sess = sess.WithData(json.RawMessage(`{"cart":{"caviar":99}}`))

		// Within the request, too, the middleware's copy is untouched.
		again, u, _ := sessionhttp.FromContext(r.Context())
		if again.UserID != "alice" || u.HasRole("admin") || string(again.Data()) != `{"cart":{"tea":1}}` {
			t.Errorf("FromContext after the edits: %s %v %s", again.UserID, u.Roles(), again.Data())
		}
	}))
	hits := cache.Stats().Hits.Load()
	r := httptest.NewRequest("GET", "/tamper", nil)
	withCookie(c)(r)
	tamper.ServeHTTP(httptest.NewRecorder(), r)

	// The next request of alice: still no admin, still her own data.
	expectCode(t, a.do("GET", "/admin", withCookie(c)), http.StatusForbidden, sessionhttp.CodeForbidden)
	after := a.me(c)
	if after.UserID != "alice" || string(after.Data) != `{"cart":{"tea":1}}` || !slices.Equal(after.Roles, []string{"customer"}) {
		t.Errorf("after the edits: %+v, want %+v", after, before)
	}
	if got := cache.Stats().Hits.Load() - hits; got < 3 {
		t.Errorf("%d cache hits: the requests did not go through the near cache", got)
	}
}

func waitHealthy(t *testing.T, c *nearcache.Cache) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !c.Healthy(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the near cache did not subscribe")
		}
	}
}

func withBody(body string) func(*http.Request) {
	return func(r *http.Request) { r.Body = io.NopCloser(strings.NewReader(body)) }
}
