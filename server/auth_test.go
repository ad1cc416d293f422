package server_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/server/apikey"
	"github.com/sessiond/sessiond/server/assertion"
	"github.com/sessiond/sessiond/sessionhttp"
	"github.com/sessiond/sessiond/stores/memory"
)

// newConfiguredAPI is newAPI over store with the rest of opts (forward
// auth, assertions, one-time tokens) as given.
func newConfiguredAPI(t *testing.T, store interface {
	sessiond.Store
	server.APIKeyStore
}, opts server.Options) *api {
	t.Helper()
	a := &api{t: t, m: sessiond.NewManager(store, newKeyring(t), sessiond.Config{}), keys: store, logs: &syncBuffer{}}
	key, rec := apikey.New("test", time.Now())
	if err := store.CreateAPIKey(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	a.key = key
	opts.Manager, opts.APIKeys = a.m, store
	opts.Logger = slog.New(slog.NewJSONHandler(a.logs, nil))
	a.h = server.New(opts)
	return a
}

// auth calls /v1/auth the way a reverse proxy does: no API key, the
// forwarded request's credentials, from 192.0.2.1 unless told otherwise.
func (a *api) auth(method string, setup ...func(*http.Request)) *httptest.ResponseRecorder {
	a.t.Helper()
	r := httptest.NewRequest(method, "/v1/auth", nil)
	for _, f := range setup {
		f(r)
	}
	w := httptest.NewRecorder()
	a.h.ServeHTTP(w, r)
	return w
}

func withCookie(name, value string) func(*http.Request) {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: name, Value: value}) }
}

func withBearer(token string) func(*http.Request) {
	return withHeader("Authorization", "Bearer "+token)
}

func from(addr string) func(*http.Request) {
	return func(r *http.Request) { r.RemoteAddr = addr }
}

// forged is a well-formed token of the tests' key (newKeyring) that the
// key never signed: a real token's prefix and key id, then a made-up
// session id and credential of the right length.
var forged = func() string {
	kr, err := sessiond.NewKeyring([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		panic(err)
	}
	token, _, err := sessiond.NewManager(memory.New(), kr, sessiond.Config{}).Create(context.Background(), sessiond.NewSession{UserID: "forger"})
	if err != nil {
		panic(err)
	}
	const prefix = len("sess_xxxxxx_")
	return token[:prefix] + strings.Repeat("A", len(token)-prefix)
}()

// tamper changes one character of a token's tag: the right key id and
// shape, the wrong signature.
func tamper(token string) string {
	i := len(token) - 6
	c := map[bool]string{true: "B", false: "A"}[token[i] == 'A']
	return token[:i] + c + token[i+1:]
}

// expectIdentity checks a 200 from /v1/auth: all five identity headers
// present (even when empty; the assertion is checked by the caller), no
// body, not cacheable.
func expectIdentity(t *testing.T, w *httptest.ResponseRecorder, sessionID, userID, roles string) {
	t.Helper()
	expectStatus(t, w, http.StatusOK)
	if got, ok := w.Header()["X-Identity-Token"]; !ok || len(got) != 1 {
		t.Errorf("X-Identity-Token %q (present %v): want one value", got, ok)
	}
	if got, ok := w.Header()["X-Auth-Time"]; !ok || len(got) != 1 {
		t.Errorf("X-Auth-Time %q (present %v): want one value", got, ok)
	} else if at, err := time.Parse(time.RFC3339, got[0]); err != nil || time.Since(at) > time.Hour || time.Until(at) > time.Second {
		t.Errorf("X-Auth-Time %q: want a recent RFC 3339 time (%v)", got[0], err)
	}
	for name, want := range map[string]string{"X-Session-Id": sessionID, "X-User-Id": userID, "X-User-Roles": roles} {
		got, ok := w.Header()[name]
		if !ok || len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q (present %v), want %q", name, got, ok, want)
		}
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	if w.Body.Len() != 0 {
		t.Errorf("body %q", w.Body)
	}
}

func expectRefused(t *testing.T, w *httptest.ResponseRecorder, challenge bool) {
	t.Helper()
	expectError(t, w, http.StatusUnauthorized, sessiond.ErrInvalidSession.Code)
	if got := w.Header().Get("WWW-Authenticate"); challenge != (got != "") || challenge && !strings.HasPrefix(got, "Bearer ") {
		t.Errorf("WWW-Authenticate %q; want a Bearer challenge: %v", got, challenge)
	}
	for _, h := range []string{"X-Session-Id", "X-User-Id", "X-User-Roles", "X-Auth-Time", "X-Identity-Token"} {
		if _, ok := w.Header()[h]; ok {
			t.Errorf("a refusal carries %s", h)
		}
	}
}

func TestForwardAuth(t *testing.T) {
	a := newConfiguredAPI(t, memory.New(), server.Options{})
	c := a.create("alice")
	expectStatus(t, a.do("PUT", "/v1/users/alice", `{"status":"active","roles":["admin","staff"]}`), http.StatusOK)

	expectIdentity(t, a.auth("GET", withCookie("__Host-session", c.Token)), c.Session.ID, "alice", "admin,staff")
	expectIdentity(t, a.auth("GET", withBearer(c.Token)), c.Session.ID, "alice", "admin,staff")
	expectIdentity(t, a.auth("HEAD", withBearer(c.Token)), c.Session.ID, "alice", "admin,staff")
	// Another scheme in Authorization belongs to the application: the
	// cookie is read.
	expectIdentity(t, a.auth("GET", withHeader("Authorization", "Basic YTpi"), withCookie("__Host-session", c.Token)), c.Session.ID, "alice", "admin,staff")
	// The bearer header wins over the cookie.
	expectRefused(t, a.auth("GET", withBearer(forged), withCookie("__Host-session", c.Token)), true)
	// Another cookie name is not read.
	expectRefused(t, a.auth("GET", withCookie("session", c.Token)), false)
	// No API key is asked for, and an API key is no session.
	expectRefused(t, a.auth("GET", withBearer(a.key)), true)
	if !strings.Contains(a.logs.String(), `"session_id":"`+c.Session.ID+`"`) || strings.Contains(a.logs.String(), c.Token) {
		t.Error("the request log must name the session id, never the token")
	}
}

func TestForwardAuthRoleless(t *testing.T) {
	a := newConfiguredAPI(t, memory.New(), server.Options{})
	c := a.create("zoë 1")
	expectIdentity(t, a.auth("GET", withBearer(c.Token)), c.Session.ID, "zo%C3%AB%201", "")

	// On the wire too: the empty header is sent, not left out, so that a
	// proxy copying it replaces whatever the client sent.
	srv := httptest.NewServer(a.h)
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/v1/auth", nil)
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if roles, ok := resp.Header["X-User-Roles"]; resp.StatusCode != http.StatusOK || !ok || len(roles) != 1 || roles[0] != "" {
		t.Errorf("status %d, X-User-Roles %q present %v", resp.StatusCode, roles, ok)
	}
}

func TestForwardAuthCookieName(t *testing.T) {
	a := newConfiguredAPI(t, memory.New(), server.Options{CookieName: "sid"})
	c := a.create("alice")
	expectIdentity(t, a.auth("GET", withCookie("sid", c.Token)), c.Session.ID, "alice", "")
	expectRefused(t, a.auth("GET", withCookie("__Host-session", c.Token)), false)
}

// X-Auth-Time is the session's auth time (the sign-in), in RFC 3339: it
// does not move when the session is used or rotated, so an upstream can
// ask for a recent sign-in before a sensitive action.
func TestForwardAuthAuthTime(t *testing.T) {
	a := newConfiguredAPI(t, memory.New(), server.Options{})
	c := a.create("alice")
	want := c.Session.AuthTime.UTC().Format(time.RFC3339)
	if got := a.auth("GET", withBearer(c.Token)).Header().Get("X-Auth-Time"); got != want {
		t.Errorf("X-Auth-Time %q, want the session's auth_time %q", got, want)
	}
	rotated := decodeAs[created](t, a.do("POST", "/v1/sessions/rotate", mustJSON(t, map[string]string{"token": c.Token})))
	w := a.auth("GET", withBearer(rotated.Token))
	expectIdentity(t, w, c.Session.ID, "alice", "")
	if got := w.Header().Get("X-Auth-Time"); got != want {
		t.Errorf("after a rotation X-Auth-Time %q, want %q", got, want)
	}
}

func TestForwardAuthRefusals(t *testing.T) {
	a := newConfiguredAPI(t, memory.New(), server.Options{AuthFailureBurst: 1000}) // not the rate limit's test
	revoked := a.create("bob")
	expectStatus(t, a.do("POST", "/v1/sessions/revoke", mustJSON(t, map[string]string{"token": revoked.Token})), http.StatusNoContent)
	banned := a.create("mallory")
	expectStatus(t, a.do("PUT", "/v1/users/mallory", `{"status":"banned"}`), http.StatusOK)
	rotated := a.create("carol")
	expectStatus(t, a.do("POST", "/v1/sessions/rotate", mustJSON(t, map[string]string{"token": rotated.Token})), http.StatusOK)
	short := decodeAs[created](t, a.do("POST", "/v1/sessions", `{"user_id":"dave","ttl":"1s"}`))
	tampered := tamper(a.create("erin").Token)

	for name, credential := range map[string]string{
		"forged":    forged,
		"tampered":  tampered,
		"malformed": "not-a-token",
		"revoked":   revoked.Token,
		"banned":    banned.Token,
		"rotated":   rotated.Token,
		"oversized": "sess_" + strings.Repeat("A", 4096),
	} {
		t.Run(name, func(t *testing.T) {
			expectRefused(t, a.auth("GET", withCookie("__Host-session", credential)), false)
			expectRefused(t, a.auth("GET", withBearer(credential)), true)
			expectRefused(t, a.auth("HEAD", withBearer(credential)), true)
		})
	}
	t.Run("no credential", func(t *testing.T) {
		expectRefused(t, a.auth("GET"), false)
		expectRefused(t, a.auth("GET", withCookie("__Host-session", "")), false)
		expectRefused(t, a.auth("GET", withHeader("Authorization", "Bearer ")), false)
	})
	t.Run("expired", func(t *testing.T) {
		time.Sleep(1100 * time.Millisecond)
		expectRefused(t, a.auth("GET", withBearer(short.Token)), true)
	})
	t.Run("other methods", func(t *testing.T) {
		expectError(t, a.auth("POST", withBearer(forged)), http.StatusMethodNotAllowed, server.CodeMethodNotAllowed)
	})
}

// Authorization lives in the user record: a role change or a ban is seen
// by the very next call.
func TestForwardAuthSeesUserChangesAtOnce(t *testing.T) {
	a := newConfiguredAPI(t, memory.New(), server.Options{})
	c := a.create("alice")
	expectIdentity(t, a.auth("GET", withBearer(c.Token)), c.Session.ID, "alice", "")
	expectStatus(t, a.do("PUT", "/v1/users/alice", `{"status":"active","roles":["admin"]}`), http.StatusOK)
	expectIdentity(t, a.auth("GET", withBearer(c.Token)), c.Session.ID, "alice", "admin")
	expectStatus(t, a.do("PUT", "/v1/users/alice", `{"status":"active","roles":[]}`), http.StatusOK)
	expectIdentity(t, a.auth("GET", withBearer(c.Token)), c.Session.ID, "alice", "")
	expectStatus(t, a.do("PUT", "/v1/users/alice", `{"status":"banned"}`), http.StatusOK)
	expectRefused(t, a.auth("GET", withBearer(c.Token)), true)
}

// After the burst of invalid tokens an address gets 429 with Retry-After
// for every call, a valid token included, and the store is not asked
// (here it is closed: asking it would answer 503). Other addresses and
// anonymous requests are not affected.
func TestForwardAuthRateLimit(t *testing.T) {
	store := openSQLite(t)
	a := newConfiguredAPI(t, store, server.Options{AuthFailureRate: 0.01, AuthFailureBurst: 3})
	c := a.create("alice")

	for range 10 { // anonymous requests are not counted
		expectRefused(t, a.auth("GET", from("198.51.100.7:1000")), false)
	}
	for range 3 {
		expectRefused(t, a.auth("GET", from("198.51.100.7:1000"), withBearer(forged)), true)
	}
	w := a.auth("GET", from("198.51.100.7:2000"), withBearer(c.Token))
	expectError(t, w, http.StatusTooManyRequests, server.CodeRateLimited)
	if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra < 1 || ra > 100 {
		t.Errorf("Retry-After %q: want whole seconds until one attempt refills (100 s at 0.01/s)", w.Header().Get("Retry-After"))
	}
	expectError(t, a.auth("HEAD", from("198.51.100.7:2000")), http.StatusTooManyRequests, server.CodeRateLimited)
	expectIdentity(t, a.auth("GET", from("198.51.100.8:1000"), withBearer(c.Token)), c.Session.ID, "alice", "")

	store.Close()
	expectError(t, a.auth("GET", from("198.51.100.7:3000"), withBearer(c.Token)), http.StatusTooManyRequests, server.CodeRateLimited)
	// A store failure fails closed and is not the client's fault: not
	// counted, however often.
	for range 5 {
		expectError(t, a.auth("GET", from("198.51.100.9:1000"), withBearer(c.Token)), http.StatusServiceUnavailable, sessionhttp.CodeStoreUnavailable)
	}
}

// A blocked address is let through again once its bucket refills.
func TestForwardAuthRateLimitRefills(t *testing.T) {
	a := newConfiguredAPI(t, memory.New(), server.Options{AuthFailureRate: 5, AuthFailureBurst: 1})
	c := a.create("alice")
	expectRefused(t, a.auth("GET", withBearer(forged)), true)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		w := a.auth("GET", withBearer(c.Token))
		if w.Code == http.StatusOK {
			break
		}
		expectError(t, w, http.StatusTooManyRequests, server.CodeRateLimited)
		if time.Now().After(deadline) {
			t.Fatal("still blocked 5s after one failure at 5/s")
		}
	}
}

// Behind a trusted proxy the client is the right-most untrusted
// X-Forwarded-For entry; from anyone else the header is ignored.
func TestForwardAuthTrustedProxies(t *testing.T) {
	a := newConfiguredAPI(t, memory.New(), server.Options{
		AuthFailureRate: 0.01, AuthFailureBurst: 1,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	})
	c := a.create("alice")
	viaProxy := func(xff string) func(*http.Request) {
		return func(r *http.Request) { r.RemoteAddr = "10.0.0.1:5000"; r.Header.Set("X-Forwarded-For", xff) }
	}
	expectRefused(t, a.auth("GET", viaProxy("203.0.113.1, 198.51.100.7"), withBearer(forged)), true)
	expectError(t, a.auth("GET", viaProxy("198.51.100.7"), withBearer(c.Token)), http.StatusTooManyRequests, server.CodeRateLimited)
	expectIdentity(t, a.auth("GET", viaProxy("198.51.100.7, 198.51.100.8"), withBearer(c.Token)), c.Session.ID, "alice", "")
	// An untrusted peer cannot escape its bucket with the header.
	expectRefused(t, a.auth("GET", from("198.51.100.20:1"), withBearer(forged)), true)
	expectError(t, a.auth("GET", from("198.51.100.20:1"), withHeader("X-Forwarded-For", "198.51.100.21"), withBearer(c.Token)), http.StatusTooManyRequests, server.CodeRateLimited)
	// Nor pick another client's: .7 is blocked, but the header is ignored.
	expectIdentity(t, a.auth("GET", from("198.51.100.22:1"), withHeader("X-Forwarded-For", "198.51.100.21"), withBearer(c.Token)), c.Session.ID, "alice", "")
	// IPv6 clients are counted per /64.
	expectRefused(t, a.auth("GET", from("[2001:db8::1]:1"), withBearer(forged)), true)
	expectError(t, a.auth("GET", from("[2001:db8::2]:1"), withBearer(c.Token)), http.StatusTooManyRequests, server.CodeRateLimited)
	expectIdentity(t, a.auth("GET", from("[2001:db8:0:1::1]:1"), withBearer(c.Token)), c.Session.ID, "alice", "")
}

func TestForwardAuthStoreUnavailable(t *testing.T) {
	store := openSQLite(t)
	a := newConfiguredAPI(t, store, server.Options{})
	c := a.create("alice")
	store.Close()
	expectError(t, a.auth("GET", withBearer(c.Token)), http.StatusServiceUnavailable, sessionhttp.CodeStoreUnavailable)
	// A forged token needs no store to be refused.
	expectRefused(t, a.auth("GET", withBearer(forged)), true)
}

func newSigningKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// With assertions on, every 200 carries X-Identity-Token, which an
// upstream verifies with another JOSE library given only the JWKS that
// /.well-known/jwks.json serves without an API key.
func TestIdentityAssertion(t *testing.T) {
	signer, err := assertion.NewSigner(assertion.Options{Audience: "shop", TTL: 30 * time.Second}, newSigningKey(t))
	if err != nil {
		t.Fatal(err)
	}
	a := newConfiguredAPI(t, memory.New(), server.Options{Assertions: signer})
	c := a.create("alice")
	expectStatus(t, a.do("PUT", "/v1/users/alice", `{"status":"active","roles":["admin"]}`), http.StatusOK)

	w := a.auth("GET", withBearer(c.Token))
	expectIdentity(t, w, c.Session.ID, "alice", "admin")
	idToken := w.Header().Get("X-Identity-Token")

	keys := a.do("GET", "/.well-known/jwks.json", "", withoutHeader("Authorization"))
	expectStatus(t, keys, http.StatusOK)
	if cc := keys.Header().Get("Cache-Control"); cc != "public, max-age=60" {
		t.Errorf("JWKS Cache-Control %q", cc)
	}
	set, err := jwk.Parse(keys.Body.Bytes())
	if err != nil {
		t.Fatalf("JWKS %s: %v", keys.Body, err)
	}
	tok, err := jwt.Parse([]byte(idToken), jwt.WithKeySet(set, jws.WithRequireKid(true)), jwt.WithAudience("shop"), jwt.WithIssuer("sessiond"), jwt.WithValidate(true))
	if err != nil {
		t.Fatalf("verifying X-Identity-Token: %v", err)
	}
	sub, _ := tok.Subject()
	exp, _ := tok.Expiration()
	var sid string
	var roles []any
	tok.Get("sid", &sid)
	tok.Get("roles", &roles)
	if sub != "alice" || sid != c.Session.ID || len(roles) != 1 || roles[0] != "admin" {
		t.Errorf("claims sub %q sid %q roles %v", sub, sid, roles)
	}
	if d := time.Until(exp); d <= 0 || d > 31*time.Second {
		t.Errorf("assertion expires in %v, want ≤ 30s", d)
	}
	// Refusals carry no assertion.
	expectRefused(t, a.auth("GET", withBearer(forged)), true)

	if strings.Contains(a.logs.String(), idToken) {
		t.Error("the assertion was logged")
	}
	var jwks struct {
		Keys []map[string]string `json:"keys"`
	}
	json.Unmarshal(keys.Body.Bytes(), &jwks)
	if len(jwks.Keys) != 1 || jwks.Keys[0]["crv"] != "Ed25519" || jwks.Keys[0]["d"] != "" {
		t.Errorf("JWKS %v: want one public Ed25519 key", jwks.Keys)
	}
}

// Without assertions X-Identity-Token is empty and there is no JWKS.
func TestNoIdentityAssertion(t *testing.T) {
	a := newMemoryAPI(t)
	c := a.create("alice")
	w := a.auth("GET", withBearer(c.Token))
	expectIdentity(t, w, c.Session.ID, "alice", "")
	if got := w.Header().Get("X-Identity-Token"); got != "" {
		t.Errorf("X-Identity-Token %q without assertions", got)
	}
	expectError(t, a.do("GET", "/.well-known/jwks.json", ""), http.StatusNotFound, sessiond.ErrNotFound.Code)
}
