package sessionhttp_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessionhttp"
	"github.com/sessiond/sessiond/stores/memory"
	"github.com/sessiond/sessiond/stores/sqlite"
)

// app is a small application on Sessions, exercised through its handler the
// way a browser or an API client would.
type app struct {
	t        *testing.T
	m        *sessiond.Manager
	sessions *sessionhttp.Sessions
	handler  http.Handler
}

func newApp(t *testing.T, store sessiond.Store, cfg sessiond.Config, o sessionhttp.Options) *app {
	t.Helper()
	keys, err := sessiond.NewKeyring([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	m := sessiond.NewManager(store, keys, cfg)
	s := sessionhttp.New(m, o)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if _, err := s.Login(w, r, r.FormValue("user"), nil); err != nil {
			s.Error(w, r, err)
		}
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := s.Logout(w, r); err != nil {
			s.Error(w, r, err)
		}
	})
	mux.HandleFunc("POST /rotate", func(w http.ResponseWriter, r *http.Request) {
		if err := s.Rotate(w, r); err != nil {
			s.Error(w, r, err)
		}
	})
	mux.HandleFunc("GET /public", func(w http.ResponseWriter, r *http.Request) {
		if sess, _, ok := sessionhttp.FromContext(r.Context()); ok {
			fmt.Fprint(w, sess.UserID)
			return
		}
		fmt.Fprint(w, "anonymous")
	})
	mux.Handle("GET /me", s.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, user, _ := sessionhttp.FromContext(r.Context())
		json.NewEncoder(w).Encode(viewOf(sess, user))
	})))
	mux.Handle("POST /cart", s.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		patch := fmt.Appendf(nil, `{"cart": {%q: 1}}`, r.FormValue("item"))
		if _, err := s.PatchData(r, patch); err != nil {
			s.Error(w, r, err)
		}
	})))
	mux.Handle("POST /data", s.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := new(bytes.Buffer)
		body.ReadFrom(r.Body)
		if _, err := s.PatchData(r, body.Bytes()); err != nil {
			s.Error(w, r, err)
		}
	})))
	mux.Handle("GET /admin", s.RequireRole("admin", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "admin area")
	})))
	return &app{t: t, m: m, sessions: s, handler: s.Handler(mux)}
}

// codeInvalidSession is what Require answers a request without a session.
var codeInvalidSession = sessiond.ErrInvalidSession.Code

// sessionView is what GET /me answers: the session a handler got, as JSON
// (Session keeps its data behind Data, which encoding/json cannot see).
type sessionView struct {
	ID      string
	UserID  string
	Client  sessiond.Client
	Version int64
	Data    json.RawMessage
	Roles   []string
}

func viewOf(s sessiond.Session, u sessiond.User) sessionView {
	return sessionView{ID: s.ID, UserID: s.UserID, Client: s.Client, Version: s.Version, Data: s.Data(), Roles: u.Roles()}
}

// me is GET /me with cookie c, which must succeed.
func (a *app) me(c *http.Cookie) sessionView {
	a.t.Helper()
	w := a.do("GET", "/me", withCookie(c))
	var v sessionView
	if err := json.Unmarshal(w.Body.Bytes(), &v); w.Code != http.StatusOK || err != nil {
		a.t.Fatalf("GET /me: %d %s", w.Code, w.Body)
	}
	return v
}

func newMemoryApp(t *testing.T) *app {
	return newApp(t, memory.New(), sessiond.Config{}, sessionhttp.Options{})
}

// do sends one request; setup adds credentials and headers.
func (a *app) do(method, target string, setup ...func(*http.Request)) *httptest.ResponseRecorder {
	a.t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for _, f := range setup {
		f(r)
	}
	w := httptest.NewRecorder()
	a.handler.ServeHTTP(w, r)
	return w
}

// login signs user in and returns the session cookie.
func (a *app) login(user string, setup ...func(*http.Request)) *http.Cookie {
	a.t.Helper()
	w := a.do("POST", "/login?user="+user, setup...)
	if w.Code != http.StatusOK {
		a.t.Fatalf("login %s: %d %s", user, w.Code, w.Body)
	}
	c := sessionCookie(w)
	if c == nil || c.Value == "" {
		a.t.Fatalf("login %s set no cookie: %v", user, w.Header())
	}
	return c
}

// sessionCookie returns the last session cookie the response set: the one
// a browser keeps when a response clears a stale cookie and then sets a new
// one.
func sessionCookie(w *httptest.ResponseRecorder) *http.Cookie {
	var last *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == sessionhttp.DefaultCookieName || c.Name == "session" {
			last = c
		}
	}
	return last
}

func withCookie(c *http.Cookie) func(*http.Request) {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value}) }
}

func withBearer(token string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

func withHeader(k, v string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set(k, v) }
}

func expectCode(t *testing.T, w *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d: %s", w.Code, status, w.Body)
	}
	var body struct{ Error struct{ Code string } }
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error.Code != code {
		t.Fatalf("body %q, want error code %q", w.Body, code)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
}

func expectCleared(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	c := sessionCookie(w)
	if c == nil || c.MaxAge >= 0 || c.Value != "" {
		t.Fatalf("cookie not cleared: %v", w.Header().Values("Set-Cookie"))
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("clearing the cookie: Cache-Control %q, want no-store", cc)
	}
}

func TestCookieAttributes(t *testing.T) {
	a := newMemoryApp(t)
	w := a.do("POST", "/login?user=alice")
	c := sessionCookie(w)
	if c == nil {
		t.Fatal("no cookie")
	}
	if c.Name != "__Host-session" || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
		t.Errorf("cookie attributes: %s", w.Header().Get("Set-Cookie"))
	}
	if c.MaxAge != 0 || !c.Expires.IsZero() {
		t.Errorf("cookie is persistent by default: %s", w.Header().Get("Set-Cookie"))
	}
	if !strings.HasPrefix(c.Value, "sess_") {
		t.Errorf("cookie value %q is not a token", c.Value)
	}

	t.Run("persistent", func(t *testing.T) {
		a := newApp(t, memory.New(), sessiond.Config{Lifetime: time.Hour}, sessionhttp.Options{Persistent: true})
		c := sessionCookie(a.do("POST", "/login?user=alice"))
		if c.MaxAge != 3600 {
			t.Errorf("Max-Age %d, want the session's lifetime 3600", c.MaxAge)
		}
	})
	t.Run("insecure", func(t *testing.T) {
		a := newApp(t, memory.New(), sessiond.Config{}, sessionhttp.Options{Insecure: true})
		w := a.do("POST", "/login?user=alice")
		c := sessionCookie(w)
		if c.Name != "session" || c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
			t.Errorf("insecure cookie: %s", w.Header().Get("Set-Cookie"))
		}
		if w := a.do("GET", "/me", withCookie(c)); w.Code != http.StatusOK {
			t.Errorf("insecure cookie refused: %d", w.Code)
		}
	})
}

func TestBearer(t *testing.T) {
	a := newMemoryApp(t)
	token, _, err := a.m.Create(t.Context(), sessiond.NewSession{UserID: "mobile"})
	if err != nil {
		t.Fatal(err)
	}
	w := a.do("GET", "/public", withBearer(token))
	if w.Body.String() != "mobile" {
		t.Fatalf("bearer: %d %s", w.Code, w.Body)
	}
	if w.Header().Get("Set-Cookie") != "" {
		t.Error("a bearer request got a cookie")
	}
	w = a.do("GET", "/public", withHeader("Authorization", "bearer  "+token))
	if w.Body.String() != "mobile" {
		t.Errorf("the scheme is case-insensitive: %s", w.Body)
	}

	// A bearer header is the only credential read: with a bad one the
	// request is anonymous even if it carries a good cookie, and the cookie
	// is neither used nor cleared.
	c := a.login("alice")
	w = a.do("GET", "/me", withBearer("sess_bogus"), withCookie(c))
	expectCode(t, w, http.StatusUnauthorized, codeInvalidSession)
	if w.Header().Get("Set-Cookie") != "" || w.Header().Get("WWW-Authenticate") == "" {
		t.Errorf("headers: %v", w.Header())
	}
}

func TestLoginRotatesAwayPreLoginSession(t *testing.T) {
	a := newMemoryApp(t)
	before := a.login("alice")
	after := a.login("bob", withCookie(before))
	if after.Value == before.Value {
		t.Fatal("login kept the token")
	}
	if _, _, err := a.m.Validate(t.Context(), before.Value); !errors.Is(err, sessiond.ErrInvalidSession) {
		t.Fatalf("pre-login session still valid on the server: %v", err)
	}
	w := a.do("GET", "/me", withCookie(before))
	expectCode(t, w, http.StatusUnauthorized, codeInvalidSession)
	expectCleared(t, w)

	s := a.me(after)
	if s.UserID != "bob" {
		t.Fatalf("new session of %q", s.UserID)
	}
	if s.Client.IP != "192.0.2.1" || s.Client.UserAgent != "" {
		t.Errorf("client recorded as %+v", s.Client)
	}
}

// Signing in with a stale cookie: Handler clears it, Login sets the new one
// after it, so the browser ends up with the new token.
func TestLoginOverStaleCookie(t *testing.T) {
	a := newMemoryApp(t)
	stale := a.login("alice")
	if err := a.m.Revoke(t.Context(), stale.Value); err != nil {
		t.Fatal(err)
	}
	w := a.do("POST", "/login?user=alice", withCookie(stale))
	if n := len(w.Header().Values("Set-Cookie")); n != 2 {
		t.Fatalf("%d Set-Cookie headers, want the clearing and the new one", n)
	}
	fresh := sessionCookie(w)
	if fresh.MaxAge < 0 || fresh.Value == stale.Value {
		t.Fatalf("last cookie %v", fresh)
	}
	if w := a.do("GET", "/me", withCookie(fresh)); w.Code != http.StatusOK {
		t.Errorf("new cookie refused: %d", w.Code)
	}
}

func TestLoginRecordsClient(t *testing.T) {
	for _, tc := range []struct {
		trust  bool
		xff    []string
		wantIP string
	}{
		{false, []string{"203.0.113.9"}, "192.0.2.1"},
		{true, []string{"198.51.100.7, 203.0.113.9"}, "203.0.113.9"},
		{true, []string{"198.51.100.7", "203.0.113.9"}, "203.0.113.9"},
		{true, []string{"not an address"}, "192.0.2.1"},
		{true, nil, "192.0.2.1"},
	} {
		a := newApp(t, memory.New(), sessiond.Config{}, sessionhttp.Options{TrustProxyHeaders: tc.trust})
		c := a.login("alice", withHeader("User-Agent", "test-agent/1.0"), func(r *http.Request) {
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
		})
		s, _, err := a.m.Validate(t.Context(), c.Value)
		if err != nil {
			t.Fatal(err)
		}
		if s.Client.IP != tc.wantIP || s.Client.UserAgent != "test-agent/1.0" {
			t.Errorf("trust=%v xff=%q: client %+v, want IP %s", tc.trust, tc.xff, s.Client, tc.wantIP)
		}
	}
}

func TestLogoutRevokesServerSide(t *testing.T) {
	a := newMemoryApp(t)
	c := a.login("alice")
	w := a.do("POST", "/logout", withCookie(c))
	if w.Code != http.StatusOK {
		t.Fatalf("logout: %d %s", w.Code, w.Body)
	}
	expectCleared(t, w)
	if _, _, err := a.m.Validate(t.Context(), c.Value); !errors.Is(err, sessiond.ErrInvalidSession) {
		t.Fatalf("session still valid on the server after logout: %v", err)
	}
	// A copy of the cookie, replayed as a cookie or as a bearer token, is dead.
	expectCode(t, a.do("GET", "/me", withCookie(c)), http.StatusUnauthorized, codeInvalidSession)
	expectCode(t, a.do("GET", "/me", withBearer(c.Value)), http.StatusUnauthorized, codeInvalidSession)

	// Logging out without a session just clears the cookie.
	expectCleared(t, a.do("POST", "/logout"))
}

// Rotate gives the session a new token and keeps everything else: its id,
// its data. The old token is dead at once, and a browser replaying it gets
// its cookie cleared.
func TestRotate(t *testing.T) {
	a := newMemoryApp(t)
	old := a.login("alice")
	if w := a.do("POST", "/cart?item=book", withCookie(old)); w.Code != http.StatusOK {
		t.Fatalf("cart: %d %s", w.Code, w.Body)
	}
	before := a.me(old)
	w := a.do("POST", "/rotate", withCookie(old))
	rotated := sessionCookie(w)
	if w.Code != http.StatusOK || rotated == nil || rotated.Value == old.Value {
		t.Fatalf("rotate: %d %v", w.Code, w.Header())
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("rotate: Cache-Control %q", cc)
	}
	w = a.do("GET", "/me", withCookie(old))
	expectCode(t, w, http.StatusUnauthorized, codeInvalidSession)
	expectCleared(t, w)
	after := a.me(rotated)
	if after.ID != before.ID {
		t.Errorf("rotation changed the session id: %s -> %s", before.ID, after.ID)
	}
	if string(after.Data) != `{"cart":{"book":1}}` {
		t.Errorf("data after rotation: %s", after.Data)
	}
	if _, _, err := a.m.Validate(t.Context(), old.Value); !errors.Is(err, sessiond.ErrTokenRotated) {
		t.Errorf("the old token is not recognised as rotated away: %v", err)
	}

	// Bearer clients would never see a rotated cookie: Rotate refuses.
	token, _, err := a.m.Create(t.Context(), sessiond.NewSession{UserID: "mobile"})
	if err != nil {
		t.Fatal(err)
	}
	w = a.do("POST", "/rotate", withBearer(token))
	expectCode(t, w, http.StatusBadRequest, sessiond.ErrInvalidRequest.Code)
	if w.Header().Get("Set-Cookie") != "" {
		t.Errorf("rotate of a bearer session set a cookie: %v", w.Header())
	}
	expectCode(t, a.do("POST", "/rotate"), http.StatusUnauthorized, codeInvalidSession)
}

// A token rotated away by a concurrent request (another tab changing the
// password) still signs its device out: Logout ends the session it was
// validated for.
func TestLogoutAfterConcurrentRotation(t *testing.T) {
	a := newMemoryApp(t)
	c := a.login("alice")
	var rotated string
	h := a.sessions.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The other tab rotates while this request is under way.
		var err error
		if rotated, _, err = a.m.Rotate(r.Context(), c.Value); err != nil {
			t.Fatal(err)
		}
		if err := a.sessions.Logout(w, r); err != nil {
			a.sessions.Error(w, r, err)
		}
	}))
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/logout", nil)
	withCookie(c)(r)
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("logout: %d %s", w.Code, w.Body)
	}
	expectCleared(t, w)
	if _, _, err := a.m.Validate(t.Context(), rotated); !errors.Is(err, sessiond.ErrInvalidSession) {
		t.Fatalf("the session outlived its logout: %v", err)
	}
}

func TestCrossSiteRefused(t *testing.T) {
	a := newMemoryApp(t)
	c := a.login("alice")
	token, _, err := a.m.Create(t.Context(), sessiond.NewSession{UserID: "mobile"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		method string
		target string
		setup  []func(*http.Request)
		want   int
	}{
		{"cookie, Sec-Fetch-Site cross-site", "POST", "/cart?item=x", []func(*http.Request){withCookie(c), withHeader("Sec-Fetch-Site", "cross-site")}, 403},
		{"cookie, Sec-Fetch-Site same-site", "POST", "/cart?item=x", []func(*http.Request){withCookie(c), withHeader("Sec-Fetch-Site", "same-site")}, 403},
		{"cookie, foreign Origin", "POST", "/cart?item=x", []func(*http.Request){withCookie(c), withHeader("Origin", "https://evil.example")}, 403},
		{"cookie, same origin", "POST", "/cart?item=x", []func(*http.Request){withCookie(c), withHeader("Sec-Fetch-Site", "same-origin")}, 200},
		{"cookie, matching Origin", "POST", "/cart?item=x", []func(*http.Request){withCookie(c), withHeader("Origin", "https://example.com")}, 200},
		{"cookie, no browser headers", "POST", "/cart?item=x", []func(*http.Request){withCookie(c)}, 200},
		{"cookie, cross-site GET is safe", "GET", "/me", []func(*http.Request){withCookie(c), withHeader("Sec-Fetch-Site", "cross-site")}, 200},
		{"bearer, cross-site", "POST", "/cart?item=x", []func(*http.Request){withBearer(token), withHeader("Sec-Fetch-Site", "cross-site")}, 200},
		{"bearer, foreign Origin", "POST", "/cart?item=x", []func(*http.Request){withBearer(token), withHeader("Origin", "https://evil.example")}, 200},
		{"login CSRF", "POST", "/login?user=mallory", []func(*http.Request){withHeader("Sec-Fetch-Site", "cross-site")}, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := a.do(tc.method, tc.target, tc.setup...)
			if tc.want == 403 {
				expectCode(t, w, http.StatusForbidden, sessionhttp.CodeForbidden)
				if w.Header().Get("Set-Cookie") != "" {
					t.Error("a refused request changed the cookie")
				}
				return
			}
			if w.Code != tc.want {
				t.Errorf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
		})
	}

	t.Run("trusted origin", func(t *testing.T) {
		cop := http.NewCrossOriginProtection()
		if err := cop.AddTrustedOrigin("https://app.example"); err != nil {
			t.Fatal(err)
		}
		a := newApp(t, memory.New(), sessiond.Config{}, sessionhttp.Options{CrossOrigin: cop})
		c := a.login("alice")
		w := a.do("POST", "/cart?item=x", withCookie(c), withHeader("Sec-Fetch-Site", "cross-site"), withHeader("Origin", "https://app.example"))
		if w.Code != http.StatusOK {
			t.Errorf("trusted origin refused: %d %s", w.Code, w.Body)
		}
	})
}

// Every response that sets or clears the cookie must stay out of caches.
func TestCacheControlNoStore(t *testing.T) {
	a := newMemoryApp(t)
	w := a.do("POST", "/login?user=alice")
	c := sessionCookie(w)
	for name, w := range map[string]*httptest.ResponseRecorder{
		"login":  w,
		"rotate": a.do("POST", "/rotate", withCookie(c)),
		"logout": a.do("POST", "/logout", withCookie(c)),
		"stale":  a.do("GET", "/public", withCookie(c)),
	} {
		if w.Header().Get("Set-Cookie") == "" {
			t.Errorf("%s: no Set-Cookie", name)
		}
		if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", name, cc)
		}
	}
	// An ordinary authenticated response changes no cookie and is left to
	// the application, but varies by cookie.
	c = a.login("alice")
	w = a.do("GET", "/me", withCookie(c))
	if w.Header().Get("Set-Cookie") != "" || w.Header().Get("Cache-Control") != "" || w.Header().Get("Vary") != "Cookie" {
		t.Errorf("plain request headers: %v", w.Header())
	}
}

func TestConcurrentPatchLosesNothing(t *testing.T) {
	a := newMemoryApp(t)
	c := a.login("alice")
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if w := a.do("POST", fmt.Sprintf("/cart?item=item-%d", i), withCookie(c)); w.Code != http.StatusOK {
				t.Errorf("patch %d: %d %s", i, w.Code, w.Body)
			}
		})
	}
	wg.Wait()
	s := a.me(c)
	var data struct{ Cart map[string]int }
	if err := json.Unmarshal(s.Data, &data); err != nil {
		t.Fatal(err)
	}
	if len(data.Cart) != n {
		t.Errorf("cart has %d items after %d concurrent adds: %s", len(data.Cart), n, s.Data)
	}
	if s.Version != n+1 {
		t.Errorf("version %d, want %d", s.Version, n+1)
	}
}

// Update runs a read-modify-write on the data; concurrent counters all land,
// and FromContext sees the result for the rest of the request.
func TestUpdateIsAtomic(t *testing.T) {
	a := newMemoryApp(t)
	h := a.sessions.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := a.sessions.UpdateData(r, func(data json.RawMessage) (json.RawMessage, error) {
			var d struct{ Visits int }
			if err := json.Unmarshal(data, &d); err != nil {
				return nil, err
			}
			d.Visits++
			return json.Marshal(d)
		})
		if err != nil {
			a.sessions.Error(w, r, err)
			return
		}
		sess, _, _ := sessionhttp.FromContext(r.Context())
		w.Write(sess.Data())
	}))
	c := a.login("alice")
	const n = 30
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			r := httptest.NewRequest("POST", "/visit", nil)
			withCookie(c)(r)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"Visits":`) {
				t.Errorf("update: %d %s", w.Code, w.Body)
			}
		})
	}
	wg.Wait()
	s, _, err := a.m.Validate(t.Context(), c.Value)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`{"Visits":%d}`, n); string(s.Data()) != want {
		t.Errorf("data %s, want %s", s.Data(), want)
	}
}

func TestNewRefusesBadCookieName(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New accepted the cookie name \"bad name\"")
		}
	}()
	newApp(t, memory.New(), sessiond.Config{}, sessionhttp.Options{CookieName: "bad name"})
}

func TestPatchErrors(t *testing.T) {
	a := newApp(t, memory.New(), sessiond.Config{MaxDataSize: 100}, sessionhttp.Options{})
	c := a.login("alice")
	post := func(body string) *httptest.ResponseRecorder {
		return a.do("POST", "/data", withCookie(c), func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(body))
		})
	}
	expectCode(t, post(`[1, 2]`), http.StatusBadRequest, sessiond.ErrInvalidRequest.Code)
	expectCode(t, post(`{"x": `), http.StatusBadRequest, sessiond.ErrInvalidRequest.Code)
	expectCode(t, post(`{"x": "`+strings.Repeat("a", 200)+`"}`), http.StatusRequestEntityTooLarge, sessiond.ErrDataTooLarge.Code)
	if w := post(`{"ok": true}`); w.Code != http.StatusOK {
		t.Errorf("good patch: %d %s", w.Code, w.Body)
	}
	// The session ended between the middleware's check and the patch.
	if err := a.m.Revoke(t.Context(), c.Value); err != nil {
		t.Fatal(err)
	}
	expectCode(t, post(`{"ok": false}`), http.StatusUnauthorized, codeInvalidSession)
}

func TestForgedOrExpiredCookieIsAnonymous(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	a := newApp(t, memory.New(), sessiond.Config{Now: clock, IdleTimeout: time.Minute}, sessionhttp.Options{})
	real := a.login("alice")

	// Same shape as a real token, but with another key's tag.
	otherKeys, _ := sessiond.NewKeyring([]byte("another secret, another key 32b!"))
	forged, _, err := sessiond.NewManager(memory.New(), otherKeys, sessiond.Config{}).Create(t.Context(), sessiond.NewSession{UserID: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	tampered := real.Value[:len(real.Value)-2] + "AA"
	if tampered == real.Value {
		tampered = real.Value[:len(real.Value)-2] + "BB"
	}
	for name, value := range map[string]string{
		"forged":   forged,
		"tampered": tampered,
		"garbage":  "not-a-token",
		"huge":     strings.Repeat("x", 3000),
	} {
		c := &http.Cookie{Name: sessionhttp.DefaultCookieName, Value: value}
		w := a.do("GET", "/public", withCookie(c))
		if w.Code != http.StatusOK || w.Body.String() != "anonymous" {
			t.Errorf("%s: %d %s", name, w.Code, w.Body)
		}
		expectCleared(t, w)
		expectCode(t, a.do("GET", "/me", withCookie(c)), http.StatusUnauthorized, codeInvalidSession)
	}

	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	w := a.do("GET", "/public", withCookie(real))
	if w.Body.String() != "anonymous" {
		t.Errorf("expired session: %s", w.Body)
	}
	expectCleared(t, w)
}

func TestRequireRoleSeesChangesAtOnce(t *testing.T) {
	a := newMemoryApp(t)
	ctx := t.Context()
	c := a.login("alice")
	expectCode(t, a.do("GET", "/admin", withCookie(c)), http.StatusForbidden, sessionhttp.CodeForbidden)

	if _, err := a.m.PutUser(ctx, sessiond.User{ID: "alice", Status: sessiond.UserActive}.WithRoles("admin")); err != nil {
		t.Fatal(err)
	}
	if w := a.do("GET", "/admin", withCookie(c)); w.Code != http.StatusOK {
		t.Fatalf("granted role not seen: %d %s", w.Code, w.Body)
	}
	if _, err := a.m.PutUser(ctx, sessiond.User{ID: "alice", Status: sessiond.UserActive}); err != nil {
		t.Fatal(err)
	}
	expectCode(t, a.do("GET", "/admin", withCookie(c)), http.StatusForbidden, sessionhttp.CodeForbidden)

	if _, err := a.m.PutUser(ctx, sessiond.User{ID: "alice", Status: sessiond.UserBanned}.WithRoles("admin")); err != nil {
		t.Fatal(err)
	}
	expectCode(t, a.do("GET", "/admin", withCookie(c)), http.StatusUnauthorized, codeInvalidSession)
	expectCode(t, a.do("POST", "/login?user=alice"), http.StatusForbidden, sessiond.ErrUserBanned.Code)
	expectCode(t, a.do("GET", "/admin"), http.StatusUnauthorized, codeInvalidSession)
}

func TestRequireRedirectsBrowsers(t *testing.T) {
	a := newApp(t, memory.New(), sessiond.Config{}, sessionhttp.Options{LoginURL: "/login"})
	w := a.do("GET", "/me", withHeader("Accept", "text/html,application/xhtml+xml"))
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login" {
		t.Errorf("browser: %d %v", w.Code, w.Header())
	}
	expectCode(t, a.do("GET", "/me", withHeader("Accept", "application/json")), http.StatusUnauthorized, codeInvalidSession)
}

func TestHelpersNeedHandler(t *testing.T) {
	a := newMemoryApp(t)
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/login", nil)
	if _, err := a.sessions.Login(w, r, "alice", nil); err == nil {
		t.Error("Login without Handler succeeded")
	}
	if err := a.sessions.Logout(w, r); err == nil {
		t.Error("Logout without Handler succeeded")
	}
	if _, err := a.sessions.PatchData(r, []byte(`{}`)); err == nil {
		t.Error("PatchData without Handler succeeded")
	}
	if w.Header().Get("Set-Cookie") != "" {
		t.Error("a cookie was set")
	}
}

// A store that cannot answer fails closed: 503, never anonymous. The store
// is a real SQLite file, closed under the middleware's feet.
func TestStoreFailureFailsClosed(t *testing.T) {
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "sessions.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	a := newApp(t, store, sessiond.Config{}, sessionhttp.Options{ErrorLog: slog.New(slog.NewTextHandler(&logs, nil))})
	c := a.login("alice")
	if w := a.do("GET", "/me", withCookie(c)); w.Code != http.StatusOK {
		t.Fatalf("before the outage: %d %s", w.Code, w.Body)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	for name, w := range map[string]*httptest.ResponseRecorder{
		"public page with cookie": a.do("GET", "/public", withCookie(c)),
		"guarded page":            a.do("GET", "/me", withCookie(c)),
		"bearer":                  a.do("GET", "/public", withBearer(c.Value)),
		"login":                   a.do("POST", "/login?user=bob"),
		"logout":                  a.do("POST", "/logout", withCookie(c)),
	} {
		t.Run(name, func(t *testing.T) {
			expectCode(t, w, http.StatusServiceUnavailable, sessionhttp.CodeStoreUnavailable)
			if w.Header().Get("Set-Cookie") != "" {
				t.Error("the outage changed the cookie")
			}
		})
	}
	// Requests without a credential need no store.
	if w := a.do("GET", "/public"); w.Code != http.StatusOK || w.Body.String() != "anonymous" {
		t.Errorf("anonymous during the outage: %d %s", w.Code, w.Body)
	}
	if logs.Len() == 0 {
		t.Error("the outage was not logged")
	}
	if strings.Contains(logs.String(), c.Value) {
		t.Error("the token was logged")
	}
}
