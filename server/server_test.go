package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/server/apikey"
	"github.com/sessiond/sessiond/stores/memory"
)

// api is the server over a real store, driven through httptest.
type api struct {
	t    *testing.T
	h    http.Handler
	m    *sessiond.Manager
	keys server.APIKeyStore
	key  string
	logs *syncBuffer
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newKeyring(t testing.TB) *sessiond.Keyring {
	kr, err := sessiond.NewKeyring([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// newAPI serves the API over store, with API keys kept in keys, and
// registers one key.
func newAPI(t *testing.T, store sessiond.Store, keys server.APIKeyStore, cfg sessiond.Config) *api {
	t.Helper()
	a := &api{t: t, m: sessiond.NewManager(store, newKeyring(t), cfg), keys: keys, logs: &syncBuffer{}}
	key, rec := apikey.New("test", time.Now())
	if err := keys.CreateAPIKey(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	a.key = key
	a.h = server.New(server.Options{
		Manager: a.m,
		APIKeys: keys,
		Logger:  slog.New(slog.NewJSONHandler(a.logs, nil)),
	})
	return a
}

func newMemoryAPI(t *testing.T) *api {
	store := memory.New()
	return newAPI(t, store, store, sessiond.Config{})
}

// do sends a request with the API key; body is sent as is.
func (a *api) do(method, target, body string, setup ...func(*http.Request)) *httptest.ResponseRecorder {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	r.Header.Set("Authorization", "Bearer "+a.key)
	for _, f := range setup {
		f(r)
	}
	w := httptest.NewRecorder()
	a.h.ServeHTTP(w, r)
	return w
}

func withHeader(k, v string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set(k, v) }
}

func withoutHeader(k string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Del(k) }
}

// mustJSON marshals v for a request body.
func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// decodeAs decodes a response body strictly: the API's answers have exactly
// the documented fields.
func decodeAs[T any](t testing.TB, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	d := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	d.DisallowUnknownFields()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decoding %T from %q: %v", v, w.Body, err)
	}
	return v
}

func expectStatus(t testing.TB, w *httptest.ResponseRecorder, status int) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
}

// expectError checks the status and that the body is exactly
// {"error":{"code","message"}} with the wanted code and some message.
func expectError(t testing.TB, w *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var body map[string]map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body %q is not {\"error\":{...}}: %v", w.Body, err)
	}
	if len(body) != 1 || len(body["error"]) != 2 {
		t.Fatalf("error body %s: want exactly {\"error\":{\"code\",\"message\"}}", w.Body)
	}
	if got := body["error"]["code"]; got != code {
		t.Fatalf("code %v, want %q; body %s", got, code, w.Body)
	}
	if msg, _ := body["error"]["message"].(string); msg == "" {
		t.Errorf("empty message: %s", w.Body)
	}
}

// sessionJSON is the session JSON of the specification, decoded strictly
// (decodeAs): a member the API adds or drops fails the tests.
type sessionJSON struct {
	ID            string          `json:"id"`
	UserID        string          `json:"user_id"`
	CreatedAt     time.Time       `json:"created_at"`
	AuthTime      time.Time       `json:"auth_time"`
	LastSeenAt    time.Time       `json:"last_seen_at"`
	ExpiresAt     time.Time       `json:"expires_at"`
	IdleExpiresAt time.Time       `json:"idle_expires_at"`
	Client        clientJSON      `json:"client"`
	Data          json.RawMessage `json:"data"`
	Version       int64           `json:"version"`
}

type clientJSON struct {
	IP        string `json:"ip"`
	UserAgent string `json:"user_agent"`
}

// validID reports whether id is a session id: 22 characters of base64url
// (16 bytes), stable for the session's life.
func validID(id string) bool {
	b, err := base64.RawURLEncoding.Strict().DecodeString(id)
	return len(id) == 22 && err == nil && len(b) == 16
}

// idleSlack is what the manager adds to an idle timeout (the touch
// throttle, min(TouchInterval, idle/2)), so that a use that did not write
// still leaves a whole idle timeout ahead.
func idleSlack(idle time.Duration) time.Duration {
	return min(sessiond.DefaultConfig().TouchInterval, idle/2)
}

type created struct {
	Token   string       `json:"token"`
	Session *sessionJSON `json:"session"`
}

// create makes a session for user through the API.
func (a *api) create(user string) created {
	a.t.Helper()
	w := a.do("POST", "/v1/sessions", mustJSON(a.t, map[string]string{"user_id": user}))
	expectStatus(a.t, w, http.StatusCreated)
	return decodeAs[created](a.t, w)
}

func (a *api) validate(token string) *httptest.ResponseRecorder {
	a.t.Helper()
	return a.do("POST", "/v1/sessions/validate", mustJSON(a.t, map[string]string{"token": token}))
}

type sessionBody struct {
	Session *sessionJSON `json:"session"`
}

type userBody struct {
	ID         string          `json:"id"`
	Status     string          `json:"status"`
	Roles      []string        `json:"roles"`
	Attributes json.RawMessage `json:"attributes"`
	UpdatedAt  time.Time       `json:"updated_at"`
	Revoked    *int            `json:"revoked"`
}

type validated struct {
	Session *sessionJSON `json:"session"`
	User    userBody     `json:"user"`
}

func TestCreateSession(t *testing.T) {
	a := newMemoryAPI(t)
	before := time.Now().Truncate(time.Millisecond)
	w := a.do("POST", "/v1/sessions", `{
		"user_id": "alice",
		"data": {"cart": [1, 2]},
		"ttl": "2h",
		"idle_timeout": "10m",
		"client": {"ip": "203.0.113.7", "user_agent": "curl/8"}
	}`)
	expectStatus(t, w, http.StatusCreated)
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q: a response with a token must not be cached", cc)
	}
	c := decodeAs[created](t, w)
	s := c.Session
	if !strings.HasPrefix(c.Token, "sess_") || len(c.Token) != 89 || !validID(s.ID) {
		t.Fatalf("token %q, session id %q", c.Token, s.ID)
	}
	if s.UserID != "alice" || string(s.Data) != `{"cart":[1,2]}` || s.Version != 1 {
		t.Errorf("session %+v", s)
	}
	if s.Client != (clientJSON{IP: "203.0.113.7", UserAgent: "curl/8"}) {
		t.Errorf("client %+v", s.Client)
	}
	if s.CreatedAt.Before(before) || !s.ExpiresAt.Equal(s.CreatedAt.Add(2*time.Hour)) || !s.IdleExpiresAt.Equal(s.CreatedAt.Add(10*time.Minute+idleSlack(10*time.Minute))) {
		t.Errorf("times: created %v expires %v idle %v", s.CreatedAt, s.ExpiresAt, s.IdleExpiresAt)
	}
	if !s.AuthTime.Equal(s.CreatedAt) || !s.LastSeenAt.Equal(s.CreatedAt) {
		t.Errorf("a new session: auth time %v, last seen %v, want its creation %v", s.AuthTime, s.LastSeenAt, s.CreatedAt)
	}

	// The session JSON has exactly the documented members, times in RFC 3339.
	var raw struct {
		Session map[string]json.RawMessage `json:"session"`
	}
	json.Unmarshal(w.Body.Bytes(), &raw)
	want := []string{"id", "user_id", "created_at", "auth_time", "last_seen_at", "expires_at", "idle_expires_at", "client", "data", "version"}
	if len(raw.Session) != len(want) {
		t.Errorf("session members %v, want %v", raw.Session, want)
	}
	for _, k := range want {
		if _, ok := raw.Session[k]; !ok {
			t.Errorf("session JSON lacks %q", k)
		}
	}
	var created string
	json.Unmarshal(raw.Session["created_at"], &created)
	if _, err := time.Parse(time.RFC3339, created); err != nil {
		t.Errorf("created_at %q is not RFC 3339", created)
	}
}

func TestCreateSessionDefaults(t *testing.T) {
	a := newMemoryAPI(t)
	for _, body := range []string{`{"user_id":"bob"}`, `{"user_id":"bob","data":null,"ttl":null,"idle_timeout":null,"client":null}`} {
		w := a.do("POST", "/v1/sessions", body)
		expectStatus(t, w, http.StatusCreated)
		var raw struct {
			Session struct {
				Data   json.RawMessage `json:"data"`
				Client json.RawMessage `json:"client"`
			} `json:"session"`
		}
		json.Unmarshal(w.Body.Bytes(), &raw)
		if string(raw.Session.Data) != "{}" || string(raw.Session.Client) != `{"ip":"","user_agent":""}` {
			t.Errorf("%s: data %s client %s", body, raw.Session.Data, raw.Session.Client)
		}
		s := decodeAs[created](t, w).Session
		if got := s.ExpiresAt.Sub(s.CreatedAt); got != sessiond.DefaultConfig().Lifetime {
			t.Errorf("lifetime %v", got)
		}
		if idle := sessiond.DefaultConfig().IdleTimeout; s.IdleExpiresAt.Sub(s.CreatedAt) != idle+idleSlack(idle) {
			got := s.IdleExpiresAt.Sub(s.CreatedAt)
			t.Errorf("idle timeout %v", got)
		}
	}
}

func TestValidateSession(t *testing.T) {
	a := newMemoryAPI(t)
	c := a.create("alice")
	w := a.validate(c.Token)
	expectStatus(t, w, http.StatusOK)
	v := decodeAs[validated](t, w)
	if v.Session.ID != c.Session.ID || v.User.ID != "alice" || v.User.Status != "active" {
		t.Errorf("validated %+v", v)
	}
	if v.User.Roles == nil || string(v.User.Attributes) != "{}" {
		t.Errorf("default user renders roles %v attributes %s", v.User.Roles, v.User.Attributes)
	}
	if strings.Contains(w.Body.String(), "updated_at") {
		t.Errorf("a user without a record has no update time: %s", w.Body)
	}

	for name, token := range map[string]string{
		"empty":     "",
		"malformed": "not a token",
		"forged":    c.Token[:len(c.Token)-2] + "AA",
		"unknown":   a.create("bob").Token + "x",
	} {
		t.Run(name, func(t *testing.T) {
			expectError(t, a.validate(token), http.StatusUnauthorized, sessiond.ErrInvalidSession.Code)
		})
	}
	// A token the store no longer knows looks exactly like a forged one.
	other := a.create("carol")
	a.do("DELETE", "/v1/sessions/"+other.Session.ID, "")
	expectError(t, a.validate(other.Token), http.StatusUnauthorized, sessiond.ErrInvalidSession.Code)
}

func TestValidateExpired(t *testing.T) {
	store := memory.New()
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	a := newAPI(t, store, store, sessiond.Config{Now: clock})
	c := a.create("alice")
	mu.Lock()
	idle := sessiond.DefaultConfig().IdleTimeout
	now = now.Add(idle + idleSlack(idle) + time.Second)
	mu.Unlock()
	expectError(t, a.validate(c.Token), http.StatusUnauthorized, sessiond.ErrInvalidSession.Code)
	expectError(t, a.do("GET", "/v1/sessions/"+c.Session.ID, ""), http.StatusNotFound, sessiond.ErrNotFound.Code)
}

func TestRotateKillsOldToken(t *testing.T) {
	a := newMemoryAPI(t)
	c := a.do("POST", "/v1/sessions", `{"user_id":"alice","data":{"k":"v"}}`)
	old := decodeAs[created](t, c)

	w := a.do("POST", "/v1/sessions/rotate", mustJSON(t, map[string]string{"token": old.Token}))
	expectStatus(t, w, http.StatusOK)
	rotated := decodeAs[created](t, w)
	// A new token for the same session: the id stays (SPEC: rotation).
	if rotated.Token == old.Token || rotated.Session.ID != old.Session.ID {
		t.Fatalf("rotate returned %+v", rotated)
	}
	if string(rotated.Session.Data) != `{"k":"v"}` || !rotated.Session.CreatedAt.Equal(old.Session.CreatedAt) || !rotated.Session.AuthTime.Equal(old.Session.AuthTime) {
		t.Errorf("rotation lost the session's data, creation or auth time: %+v", rotated.Session)
	}

	expectError(t, a.validate(old.Token), http.StatusUnauthorized, sessiond.ErrInvalidSession.Code)
	expectStatus(t, a.validate(rotated.Token), http.StatusOK)
	// The session, by its id, is the rotated one.
	if got := decodeAs[sessionBody](t, a.do("GET", "/v1/sessions/"+old.Session.ID, "")).Session; got.ID != old.Session.ID {
		t.Errorf("GET by the id after rotation: %+v", got)
	}
	// Rotating the dead token again fails.
	expectError(t, a.do("POST", "/v1/sessions/rotate", mustJSON(t, map[string]string{"token": old.Token})),
		http.StatusUnauthorized, sessiond.ErrInvalidSession.Code)
}

func TestRevokeByToken(t *testing.T) {
	a := newMemoryAPI(t)
	c := a.create("alice")
	w := a.do("POST", "/v1/sessions/revoke", mustJSON(t, map[string]string{"token": c.Token}))
	expectStatus(t, w, http.StatusNoContent)
	if w.Body.Len() != 0 {
		t.Errorf("204 with a body: %q", w.Body)
	}
	expectError(t, a.validate(c.Token), http.StatusUnauthorized, sessiond.ErrInvalidSession.Code)
	// Logging out twice is fine; a forged token is not.
	expectStatus(t, a.do("POST", "/v1/sessions/revoke", mustJSON(t, map[string]string{"token": c.Token})), http.StatusNoContent)
	expectError(t, a.do("POST", "/v1/sessions/revoke", `{"token":"sess_nope"}`), http.StatusUnauthorized, sessiond.ErrInvalidSession.Code)
}

func TestGetAndDeleteSession(t *testing.T) {
	a := newMemoryAPI(t)
	c := a.create("alice")
	w := a.do("GET", "/v1/sessions/"+c.Session.ID, "")
	expectStatus(t, w, http.StatusOK)
	if got := decodeAs[sessionBody](t, w).Session; got.ID != c.Session.ID || got.UserID != "alice" {
		t.Errorf("got %+v", got)
	}
	if strings.Contains(w.Body.String(), c.Token) {
		t.Error("GET shows the token")
	}

	expectStatus(t, a.do("DELETE", "/v1/sessions/"+c.Session.ID, ""), http.StatusNoContent)
	expectError(t, a.do("DELETE", "/v1/sessions/"+c.Session.ID, ""), http.StatusNotFound, sessiond.ErrNotFound.Code)
	expectError(t, a.do("GET", "/v1/sessions/"+c.Session.ID, ""), http.StatusNotFound, sessiond.ErrNotFound.Code)
	expectError(t, a.validate(c.Token), http.StatusUnauthorized, sessiond.ErrInvalidSession.Code)
}

func TestPatchSessionData(t *testing.T) {
	a := newMemoryAPI(t)
	w := a.do("POST", "/v1/sessions", `{"user_id":"alice","data":{"a":1,"b":{"c":2,"d":3},"e":"x"}}`)
	c := decodeAs[created](t, w)

	// RFC 7396: null removes, objects merge, other values replace.
	w = a.do("PATCH", "/v1/sessions/"+c.Session.ID+"/data", `{"a":null,"b":{"c":20,"d":null},"e":[1],"f":true}`,
		withHeader("Content-Type", "application/merge-patch+json"))
	expectStatus(t, w, http.StatusOK)
	s := decodeAs[sessionBody](t, w).Session
	var got, want any
	json.Unmarshal(s.Data, &got)
	json.Unmarshal([]byte(`{"b":{"c":20},"e":[1],"f":true}`), &want)
	if mustJSON(t, got) != mustJSON(t, want) {
		t.Errorf("data %s", s.Data)
	}
	if s.Version != 2 {
		t.Errorf("version %d, want 2", s.Version)
	}
	// The change is what validation sees next.
	v := decodeAs[validated](t, a.validate(c.Token))
	if string(v.Session.Data) != string(s.Data) {
		t.Errorf("validate sees %s, patch returned %s", v.Session.Data, s.Data)
	}
}

// Concurrent patches through the API never lose each other's keys.
func TestConcurrentPatches(t *testing.T) {
	a := newMemoryAPI(t)
	c := a.create("alice")
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := httptest.NewRequest("PATCH", "/v1/sessions/"+c.Session.ID+"/data", strings.NewReader(mustJSON(t, map[string]int{string(rune('a' + i)): i})))
			r.Header.Set("Authorization", "Bearer "+a.key)
			w := httptest.NewRecorder()
			a.h.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				t.Errorf("patch %d: %d %s", i, w.Code, w.Body)
			}
		})
	}
	wg.Wait()
	s := decodeAs[sessionBody](t, a.do("GET", "/v1/sessions/"+c.Session.ID, "")).Session
	var data map[string]int
	json.Unmarshal(s.Data, &data)
	if len(data) != n || s.Version != n+1 {
		t.Errorf("after %d concurrent patches: data %s version %d", n, s.Data, s.Version)
	}
}

func TestUserSessions(t *testing.T) {
	a := newMemoryAPI(t)
	var ids []string
	for range 3 {
		ids = append(ids, a.create("alice").Session.ID)
	}
	bob := a.create("bob")

	w := a.do("GET", "/v1/users/alice/sessions", "")
	expectStatus(t, w, http.StatusOK)
	list := decodeAs[struct {
		Sessions []*sessionJSON `json:"sessions"`
	}](t, w).Sessions
	if len(list) != 3 {
		t.Fatalf("alice has %d sessions, want 3", len(list))
	}
	for _, s := range list {
		if s.UserID != "alice" || string(s.Data) != "{}" {
			t.Errorf("listed %+v", s)
		}
	}
	// A user without sessions has an empty list, not null.
	w = a.do("GET", "/v1/users/nobody/sessions", "")
	if strings.TrimSpace(w.Body.String()) != `{"sessions":[]}` {
		t.Errorf("empty list: %s", w.Body)
	}

	// "Log out other devices": all but one.
	w = a.do("DELETE", "/v1/users/alice/sessions?except="+ids[1], "")
	expectStatus(t, w, http.StatusOK)
	if strings.TrimSpace(w.Body.String()) != `{"revoked":2}` {
		t.Errorf("revoke all but one: %s", w.Body)
	}
	list = decodeAs[struct {
		Sessions []*sessionJSON `json:"sessions"`
	}](t, a.do("GET", "/v1/users/alice/sessions", "")).Sessions
	if len(list) != 1 || list[0].ID != ids[1] {
		t.Errorf("left %v, want only %s", list, ids[1])
	}
	// "Log out everywhere".
	w = a.do("DELETE", "/v1/users/alice/sessions", "")
	if strings.TrimSpace(w.Body.String()) != `{"revoked":1}` {
		t.Errorf("revoke all: %s", w.Body)
	}
	// Other users are untouched.
	expectStatus(t, a.validate(bob.Token), http.StatusOK)
}

// User ids are path segments, unescaped: slashes, spaces and non-ASCII
// letters work.
func TestUserIDEscaping(t *testing.T) {
	a := newMemoryAPI(t)
	for _, id := range []string{"a/b", "j ö rg", "user@example.com", "ゆき"} {
		w := a.do("POST", "/v1/sessions", mustJSON(t, map[string]string{"user_id": id}))
		expectStatus(t, w, http.StatusCreated)
		w = a.do("GET", "/v1/users/"+url.PathEscape(id)+"/sessions", "")
		expectStatus(t, w, http.StatusOK)
		if !strings.Contains(w.Body.String(), mustJSON(t, id)) {
			t.Errorf("%q: %s", id, w.Body)
		}
	}
}

func TestUsers(t *testing.T) {
	a := newMemoryAPI(t)
	// A user without a record is active, without roles.
	w := a.do("GET", "/v1/users/alice", "")
	expectStatus(t, w, http.StatusOK)
	u := decodeAs[userBody](t, w)
	if u.ID != "alice" || u.Status != "active" || u.Roles == nil || len(u.Roles) != 0 || string(u.Attributes) != "{}" {
		t.Errorf("default user %+v", u)
	}

	w = a.do("PUT", "/v1/users/alice", `{"status":"active","roles":["admin","support"],"attributes":{"team":"blue"}}`)
	expectStatus(t, w, http.StatusOK)
	u = decodeAs[userBody](t, w)
	if u.Status != "active" || strings.Join(u.Roles, ",") != "admin,support" || string(u.Attributes) != `{"team":"blue"}` || u.UpdatedAt.IsZero() {
		t.Errorf("stored user %+v", u)
	}
	if u.Revoked != nil {
		t.Errorf("an active user's PUT reports revocations: %s", w.Body)
	}
	if got := decodeAs[userBody](t, a.do("GET", "/v1/users/alice", "")); got.UpdatedAt.IsZero() || strings.Join(got.Roles, ",") != "admin,support" {
		t.Errorf("read back %+v", got)
	}
	// Validation sees the roles at once.
	c := a.create("alice")
	if v := decodeAs[validated](t, a.validate(c.Token)); strings.Join(v.User.Roles, ",") != "admin,support" {
		t.Errorf("validate sees roles %v", v.User.Roles)
	}
	// PUT replaces: roles and attributes left out are cleared.
	u = decodeAs[userBody](t, a.do("PUT", "/v1/users/alice", `{"status":"active"}`))
	if len(u.Roles) != 0 || string(u.Attributes) != "{}" {
		t.Errorf("after PUT with status only: %+v", u)
	}
}

func TestBanRevokesAndRefuses(t *testing.T) {
	a := newMemoryAPI(t)
	c1, c2 := a.create("mallory"), a.create("mallory")
	other := a.create("alice")

	w := a.do("PUT", "/v1/users/mallory", `{"status":"banned"}`)
	expectStatus(t, w, http.StatusOK)
	u := decodeAs[userBody](t, w)
	if u.Status != "banned" || u.Revoked == nil || *u.Revoked != 2 {
		t.Fatalf("ban answered %s", w.Body)
	}
	expectError(t, a.validate(c1.Token), http.StatusUnauthorized, sessiond.ErrInvalidSession.Code)
	expectError(t, a.validate(c2.Token), http.StatusUnauthorized, sessiond.ErrInvalidSession.Code)
	expectError(t, a.do("POST", "/v1/sessions", `{"user_id":"mallory"}`), http.StatusForbidden, sessiond.ErrUserBanned.Code)
	expectStatus(t, a.validate(other.Token), http.StatusOK)

	// Banning again revokes nothing more, and says so.
	if u := decodeAs[userBody](t, a.do("PUT", "/v1/users/mallory", `{"status":"banned"}`)); u.Revoked == nil || *u.Revoked != 0 {
		t.Errorf("second ban: %+v", u)
	}
	// Lifting the ban allows new sessions; the old ones stay dead.
	expectStatus(t, a.do("PUT", "/v1/users/mallory", `{"status":"active"}`), http.StatusOK)
	expectStatus(t, a.do("POST", "/v1/sessions", `{"user_id":"mallory"}`), http.StatusCreated)
	expectError(t, a.validate(c1.Token), http.StatusUnauthorized, sessiond.ErrInvalidSession.Code)
}

func TestHealth(t *testing.T) {
	a := newMemoryAPI(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		// No API key needed.
		w := a.do("GET", path, "", withoutHeader("Authorization"))
		expectStatus(t, w, http.StatusOK)
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
	}
}

func TestAPIKeys(t *testing.T) {
	a := newMemoryAPI(t)
	key, rec := apikey.New("ci", time.Now())
	if !strings.HasPrefix(key, apikey.Prefix) || len(key) != len(apikey.Prefix)+43 {
		t.Errorf("key %q", key)
	}
	if !strings.HasPrefix(rec.ID, "key_") || rec.Name != "ci" || rec.CreatedAt.IsZero() {
		t.Errorf("record %+v", rec)
	}
	if strings.Contains(rec.Hash, key) || len(rec.Hash) != 64 {
		t.Errorf("the record keeps %q, want the hex SHA-256 only", rec.Hash)
	}
	if key2, rec2 := apikey.New("ci", time.Now()); key2 == key || rec2.ID == rec.ID || rec.Hash != apikey.Hash(key) {
		t.Error("two keys alike")
	}

	// A second key works as soon as it is stored, and stops when deleted.
	store := a.keys
	if err := store.CreateAPIKey(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	expectStatus(t, a.do("GET", "/v1/users/alice", "", withHeader("Authorization", "bearer "+key)), http.StatusOK)
	if err := store.DeleteAPIKey(t.Context(), rec.ID); err != nil {
		t.Fatal(err)
	}
	expectError(t, a.do("GET", "/v1/users/alice", "", withHeader("Authorization", "Bearer "+key)), http.StatusUnauthorized, server.CodeUnauthorized)

	for _, name := range []string{"", "a\tb", "line\nbreak", strings.Repeat("x", apikey.MaxNameLen+1), "\xff"} {
		if apikey.ValidateName(name) == nil {
			t.Errorf("name %q accepted", name)
		}
	}
	if err := apikey.ValidateName("deploy bot (prod)"); err != nil {
		t.Error(err)
	}
}

// Every /v1 route needs the key; without it nothing is revealed.
func TestUnauthorized(t *testing.T) {
	a := newMemoryAPI(t)
	c := a.create("alice")
	routes := []struct{ method, path, body string }{
		{"POST", "/v1/sessions", `{"user_id":"alice"}`},
		{"POST", "/v1/sessions/validate", mustJSON(t, map[string]string{"token": c.Token})},
		{"POST", "/v1/sessions/rotate", mustJSON(t, map[string]string{"token": c.Token})},
		{"POST", "/v1/sessions/revoke", mustJSON(t, map[string]string{"token": c.Token})},
		{"GET", "/v1/sessions/" + c.Session.ID, ""},
		{"DELETE", "/v1/sessions/" + c.Session.ID, ""},
		{"PATCH", "/v1/sessions/" + c.Session.ID + "/data", `{"a":1}`},
		{"GET", "/v1/users/alice/sessions", ""},
		{"DELETE", "/v1/users/alice/sessions", ""},
		{"GET", "/v1/users/alice", ""},
		{"PUT", "/v1/users/alice", `{"status":"banned"}`},
	}
	credentials := map[string]func(*http.Request){
		"none":         withoutHeader("Authorization"),
		"empty bearer": withHeader("Authorization", "Bearer "),
		"basic":        withHeader("Authorization", "Basic "+a.key),
		"wrong key":    withHeader("Authorization", "Bearer sk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
		"no prefix":    withHeader("Authorization", "Bearer "+strings.TrimPrefix(a.key, "sk_")),
		"key + junk":   withHeader("Authorization", "Bearer "+a.key+"x"),
		"huge":         withHeader("Authorization", "Bearer sk_"+strings.Repeat("A", 10000)),
		"session tok":  withHeader("Authorization", "Bearer "+c.Token),
	}
	for _, rt := range routes {
		for name, cred := range credentials {
			t.Run(rt.method+" "+rt.path+" "+name, func(t *testing.T) {
				w := a.do(rt.method, rt.path, rt.body, cred)
				expectError(t, w, http.StatusUnauthorized, server.CodeUnauthorized)
				if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate %q", w.Header().Get("WWW-Authenticate"))
				}
			})
		}
	}
	// Nothing happened.
	expectStatus(t, a.validate(c.Token), http.StatusOK)
	if u := decodeAs[userBody](t, a.do("GET", "/v1/users/alice", "")); u.Status != "active" {
		t.Error("an unauthorized PUT changed the user")
	}
}

// The request log has one line per request, with the route and the
// session id, and never a token or an API key.
func TestRequestLog(t *testing.T) {
	a := newMemoryAPI(t)
	c := a.create("alice")
	a.validate(c.Token)
	rot := decodeAs[created](t, a.do("POST", "/v1/sessions/rotate", mustJSON(t, map[string]string{"token": c.Token})))
	a.do("POST", "/v1/sessions/revoke", mustJSON(t, map[string]string{"token": rot.Token}))
	a.do("GET", "/nope", "")
	a.do("GET", "/healthz", "", withoutHeader("Authorization"))

	logs := a.logs.String()
	for _, secret := range []string{c.Token, rot.Token, a.key, strings.TrimPrefix(a.key, "sk_")} {
		if strings.Contains(logs, secret) {
			t.Fatalf("a secret was logged:\n%s", logs)
		}
	}
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d log lines for 6 requests:\n%s", len(lines), logs)
	}
	type line struct {
		Msg       string `json:"msg"`
		Method    string `json:"method"`
		Route     string `json:"route"`
		Status    int    `json:"status"`
		SessionID string `json:"session_id"`
		APIKeyID  string `json:"api_key_id"`
	}
	var got []line
	for _, l := range lines {
		var v line
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		got = append(got, v)
	}
	if got[0].Route != "POST /v1/sessions" || got[0].Status != 201 || got[0].SessionID != c.Session.ID || !strings.HasPrefix(got[0].APIKeyID, "key_") {
		t.Errorf("create logged as %+v", got[0])
	}
	if got[1].Route != "POST /v1/sessions/validate" || got[1].SessionID != c.Session.ID {
		t.Errorf("validate logged as %+v", got[1])
	}
	// The stable id: the rotation logs the id the session was created
	// with. A logout by token logs none (the API does not take tokens
	// apart).
	if got[2].SessionID != c.Session.ID || rot.Session.ID != c.Session.ID || got[3].SessionID != "" || got[3].Status != 204 {
		t.Errorf("rotate/revoke logged as %+v %+v", got[2], got[3])
	}
	if got[4].Status != 404 || got[4].Route != "" || got[5].Route != "GET /healthz" || got[5].APIKeyID != "" {
		t.Errorf("404/healthz logged as %+v %+v", got[4], got[5])
	}
}
