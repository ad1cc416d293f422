package admin

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/browsertest"
)

func TestSignIn(t *testing.T) {
	forEachStore(t, func(t *testing.T, c *testConsole) {
		b := c.browser()
		b.Get("/admin/login").WantPage(http.StatusOK, `name="api_key"`, `action="/admin/login"`).WantNoBody("Log out")

		b.login("sk_wrong").WantPage(http.StatusUnauthorized, "That API key is not valid")
		b.login("").WantPage(http.StatusUnauthorized, "That API key is not valid")
		b.login(strings.Repeat("k", 10_000)).WantPage(http.StatusUnauthorized, "That API key is not valid")
		if b.Cookie != nil {
			t.Fatal("a failed sign-in set a cookie")
		}

		// A pasted key often brings white space along.
		r := b.login(" " + c.key + "\n").WantRedirect("/admin/")
		ck := b.Cookie
		if ck == nil {
			t.Fatal("no admin cookie after sign-in")
		}
		if ck.Name != "__Host-sessiond-admin" || !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" || ck.MaxAge != 0 {
			t.Errorf("cookie %s: want __Host-sessiond-admin; HttpOnly; Secure; SameSite=Lax; Path=/; no Domain; a browser-session cookie", ck)
		}
		if got := r.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("sign-in Cache-Control %q", got)
		}

		// The admin session is a sessiond session of the key's console
		// user, recording the key's id and hash, never the key.
		s := b.session()
		if s.UserID != "apikey:"+c.keyRec.ID {
			t.Errorf("admin session of user %q, want apikey:%s", s.UserID, c.keyRec.ID)
		}
		var data adminData
		if err := json.Unmarshal(s.Data(), &data); err != nil || data.Admin == nil || data.Admin.ID != c.keyRec.ID || data.Admin.Hash != c.keyRec.Hash {
			t.Errorf("admin session data %s", s.Data())
		}
		if strings.Contains(string(s.Data()), c.key) {
			t.Error("the API key is stored in the session")
		}
		if s.Client.UserAgent != browsertest.UAFirefox {
			t.Errorf("client %+v", s.Client)
		}

		b.Get("/admin/").WantPage(http.StatusOK, `<strong id="key" title="`+c.keyRec.ID+`">ops laptop</strong>`, `action="/admin/logout"`, `action="/admin/users"`)
	})
}

// Insecure is for plain http:// off loopback: no Secure attribute, hence no
// __Host- prefix, which browsers refuse without it.
func TestInsecureCookie(t *testing.T) {
	c := newMemoryConsole(t)
	h := New(Options{Manager: c.m, APIKeys: c.store, Insecure: true})
	req := httptest.NewRequest("POST", "/admin/login", strings.NewReader(url.Values{"api_key": {c.key}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	cookies := w.Result().Cookies()
	if w.Code != http.StatusSeeOther || len(cookies) != 1 {
		t.Fatalf("sign-in: %d, cookies %v", w.Code, cookies)
	}
	if ck := cookies[0]; ck.Name != "sessiond-admin" || ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
		t.Errorf("insecure cookie %s", ck)
	}
}

// Signing in again rotates: the session the browser carried is revoked
// (session fixation).
func TestSignInAgainRevokesTheOldAdminSession(t *testing.T) {
	c := newMemoryConsole(t)
	b := c.signedIn()
	before := *b.Cookie
	b.login(c.key).WantRedirect("/admin/")
	if b.Cookie.Value == before.Value {
		t.Fatal("signing in kept the token")
	}
	replay := c.browser()
	replay.Cookie = &before
	replay.Get("/admin/").WantRedirect("/admin/login")
}

func TestLogout(t *testing.T) {
	forEachStore(t, func(t *testing.T, c *testConsole) {
		b := c.signedIn()
		stolen := *b.Cookie
		b.Post("/admin/logout", nil).WantRedirect("/admin/login?m=signed-out")
		if b.Cookie != nil {
			t.Fatal("logout left the cookie in place")
		}
		b.Get("/admin/login?m=signed-out").WantPage(http.StatusOK, "You have signed out")
		if _, _, err := c.m.Validate(context.Background(), stolen.Value); !errors.Is(err, sessiond.ErrInvalidSession) {
			t.Fatalf("the admin session survived logout: %v", err)
		}
		replay := c.browser()
		replay.Cookie = &stolen
		replay.Get("/admin/").WantRedirect("/admin/login")
		if replay.Cookie != nil {
			t.Error("a replayed dead cookie was not cleared")
		}
	})
}

// Every page but the sign-in form needs an admin session: browsers are
// sent to sign in, other clients get 401, and nothing is done.
func TestPagesNeedAnAdminSession(t *testing.T) {
	c := newMemoryConsole(t)
	alice := c.newSession("alice", "192.0.2.7", browsertest.UAIPhone)
	id := c.idOf(alice)
	routes := []struct{ method, path string }{
		{"GET", "/admin/"},
		{"GET", "/admin/stats"},
		{"GET", "/admin/users?user=alice"},
		{"GET", "/admin/users/alice"},
		{"POST", "/admin/users/alice/sessions/" + id + "/revoke"},
		{"POST", "/admin/users/alice/sessions/revoke-all"},
		{"POST", "/admin/users/alice/ban"},
		{"POST", "/admin/users/alice/unban"},
		{"POST", "/admin/users/alice/roles"},
	}
	b := c.browser()
	for _, route := range routes {
		b.Do(route.method, route.path, url.Values{"roles": {"admin"}}).WantRedirect("/admin/login")
		r := b.Do(route.method, route.path, url.Values{"roles": {"admin"}}, "Accept", "application/json")
		if r.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s for an API client: %d, want 401", route.method, route.path, r.StatusCode)
		}
	}
	if u, ok := c.valid(alice); !ok || len(u.Roles()) != 0 {
		t.Fatalf("an anonymous request changed alice: valid %v, %+v", ok, u)
	}
}

// Revoking the API key ends its console sessions at their next request.
func TestRevokedKeyEndsTheAdminSession(t *testing.T) {
	forEachStore(t, func(t *testing.T, c *testConsole) {
		b := c.signedIn()
		other := c.browser()
		otherKey, _ := c.newKey("other")
		other.login(otherKey).WantRedirect("/admin/")
		stolen := *b.Cookie

		if err := c.store.DeleteAPIKey(context.Background(), c.keyRec.ID); err != nil {
			t.Fatal(err)
		}
		b.Get("/admin/").WantRedirect("/admin/login?m=ended")
		if b.Cookie != nil {
			t.Error("the cookie of a revoked key was not cleared")
		}
		if _, _, err := c.m.Validate(context.Background(), stolen.Value); !errors.Is(err, sessiond.ErrInvalidSession) {
			t.Errorf("the session of a revoked key is still valid: %v", err)
		}
		b.Get("/admin/login?m=ended").WantPage(http.StatusOK, "Your admin session has ended")
		b.login(c.key).WantStatus(http.StatusUnauthorized)

		other.Get("/admin/").WantStatus(http.StatusOK) // another key's session lives on
	})
}

func TestAdminSessionTimeLimit(t *testing.T) {
	c := newMemoryConsole(t)
	b := c.signedIn()
	c.skew.Store(int64(maxAdminAge - time.Minute))
	b.Get("/admin/").WantStatus(http.StatusOK)
	c.skew.Store(int64(maxAdminAge))
	b.Get("/admin/").WantRedirect("/admin/login?m=ended")
}

// The console's cookie opens the console only for sessions the console
// made: an application whose users pick their own ids can create sessions
// of the user "apikey:<key id>", with any data, but cannot know the key's
// hash.
func TestApplicationSessionsDoNotOpenTheConsole(t *testing.T) {
	c := newMemoryConsole(t)
	for _, data := range []string{
		`{}`,
		`{"sessiond_admin": {"api_key_id": "` + c.keyRec.ID + `"}}`,
		`{"sessiond_admin": {"api_key_id": "` + c.keyRec.ID + `", "api_key_sha256": "` + strings.Repeat("0", 64) + `"}}`,
		`{"sessiond_admin": "yes"}`,
	} {
		token, _, err := c.m.Create(context.Background(), sessiond.NewSession{UserID: "apikey:" + c.keyRec.ID, Data: json.RawMessage(data)})
		if err != nil {
			t.Fatal(err)
		}
		b := c.browser()
		b.Cookie = &http.Cookie{Name: CookieName, Value: token}
		b.Get("/admin/").WantRedirect("/admin/login?m=ended")
		if _, ok := c.valid(token); ok {
			t.Errorf("data %s: the session that tried to open the console is still valid", data)
		}
	}
	// The right data under another user id does not either.
	b := c.signedIn()
	token, _, err := c.m.Create(context.Background(), sessiond.NewSession{UserID: "mallory", Data: b.session().Data()})
	if err != nil {
		t.Fatal(err)
	}
	b.Cookie = &http.Cookie{Name: CookieName, Value: token}
	b.Get("/admin/").WantRedirect("/admin/login?m=ended")
}

// The console's sign-ins are sessions of the user apikey:<key id>: banning
// that user locks the key out of the console (not out of the API).
func TestBannedConsoleUser(t *testing.T) {
	c := newMemoryConsole(t)
	b := c.signedIn()
	b.Post("/admin/users/apikey:"+c.keyRec.ID+"/ban", nil).WantRedirect("/admin/users/apikey:" + c.keyRec.ID)
	b.Get("/admin/").WantRedirect("/admin/login")
	b.login(c.key).WantPage(http.StatusForbidden, "console user is banned")
}

func TestSignInIsThrottled(t *testing.T) {
	c := newMemoryConsole(t)
	b := c.browser()
	for range attemptBurst {
		b.login("sk_guess").WantStatus(http.StatusUnauthorized)
	}
	r := b.login(c.key).WantPage(http.StatusTooManyRequests, "Too many failed attempts")
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	if b.Cookie != nil {
		t.Fatal("a throttled client was signed in")
	}
}

func TestSecurityHeaders(t *testing.T) {
	c := newMemoryConsole(t)
	b := c.signedIn()
	for _, r := range []*browsertest.Response{
		c.browser().Get("/admin/login"),
		b.Get("/admin/"),
		b.Get("/admin/users/alice"),
		b.Get("/admin/static/style.css"),
		b.Get("/admin/nowhere"),
		b.Post("/admin/users/alice/ban", nil, "Sec-Fetch-Site", "cross-site"),
	} {
		for header, want := range map[string]string{
			"Cache-Control":          "no-store",
			"X-Frame-Options":        "DENY",
			"X-Content-Type-Options": "nosniff",
		} {
			if got := r.Header.Get(header); got != want {
				t.Errorf("%s %s: %s %q, want %q", r.Request.Method, r.Request.URL.Path, header, got, want)
			}
		}
		csp := r.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
			t.Errorf("%s %s: Content-Security-Policy %q", r.Request.Method, r.Request.URL.Path, csp)
		}
	}
	css := b.Get("/admin/static/style.css").WantStatus(http.StatusOK)
	if ct := css.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("stylesheet Content-Type %q", ct)
	}
}

func TestDashboard(t *testing.T) {
	c := newMemoryConsole(t)
	b := c.signedIn()
	counters := func(r *browsertest.Response) (active, rate, ratio string) {
		t.Helper()
		value := func(id string) string {
			_, after, ok := strings.Cut(r.Body, `id="`+id+`">`)
			if !ok {
				t.Fatalf("no counter %s:\n%s", id, r.Body)
			}
			v, _, _ := strings.Cut(after, "<")
			return v
		}
		return value("active-sessions"), value("validations"), value("hit-ratio")
	}

	r := b.Get("/admin/").WantPage(http.StatusOK, `name="user"`, `href="/admin/stats"`)
	if a, v, h := counters(r); a != "n/a" || v != "0.0" || h != "n/a" {
		t.Errorf("unknown counters shown as %q %q %q, want n/a 0.0 n/a", a, v, h)
	}
	c.stats.Store(&Stats{ActiveSessions: 1234567, ValidationsPerSecond: 1812.25, CacheHitRatio: 0.975})
	if a, v, h := counters(b.Get("/admin/")); a != "1,234,567" || v != "1,812.2" || h != "97.5 %" {
		t.Errorf("counters shown as %q %q %q", a, v, h)
	}

	live := b.Get("/admin/stats").WantPage(http.StatusOK, `<meta http-equiv="refresh" content="5">`)
	if a, _, _ := counters(live); a != "1,234,567" {
		t.Errorf("the live page shows %q active sessions", a)
	}
	b.Get("/admin/").WantNoBody(`http-equiv="refresh"`) // the search box is never reloaded away
	c.stats.Store(&Stats{ActiveSessions: 999, ValidationsPerSecond: math.NaN(), CacheHitRatio: 1.5})
	if a, v, h := counters(b.Get("/admin/")); a != "999" || v != "n/a" || h != "n/a" {
		t.Errorf("odd counters shown as %q %q %q, want 999 n/a n/a", a, v, h)
	}

	t.Run("no stats at all", func(t *testing.T) {
		h := New(Options{Manager: c.m, APIKeys: c.store})
		req := httptest.NewRequest("GET", "/admin/", nil)
		req.AddCookie(&http.Cookie{Name: CookieName, Value: b.Cookie.Value})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Fatalf("status %d", w.Code)
		}
		for _, id := range []string{"active-sessions", "validations", "hit-ratio"} {
			if !strings.Contains(w.Body.String(), `id="`+id+`">n/a<`) {
				t.Errorf("%s is not n/a:\n%s", id, w.Body)
			}
		}
	})
}

func TestUserPage(t *testing.T) {
	forEachStore(t, func(t *testing.T, c *testConsole) {
		c.newSession("alice", "198.51.100.4", browsertest.UAFirefox)
		c.newSession("alice", "2001:db8::7", browsertest.UAIPhone)
		c.newSession("bob", "203.0.113.9", browsertest.UAChrome)
		if _, err := c.m.PutUser(context.Background(), sessiond.User{ID: "alice", Status: sessiond.UserActive}.WithRoles("customer", "beta")); err != nil {
			t.Fatal(err)
		}
		b := c.signedIn()

		b.Get("/admin/users?user=+alice+").WantRedirect("/admin/users/alice")
		live, err := c.m.ListUserSessions(context.Background(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		r := b.Get("/admin/users/alice").WantPage(http.StatusOK,
			`<h1 class="user-id">alice</h1>`,
			`<span class="status active" id="status">active</span>`,
			`<span class="role">customer</span> <span class="role">beta</span>`,
			`value="customer beta"`,
			"Firefox 128 on Linux", "Safari 17 on iPhone", "198.51.100.4", "2001:db8::7",
			`<code title="`+live[0].ID+`">`+live[0].ID[:12]+`…</code>`,
			`action="/admin/users/alice/sessions/`+live[1].ID+`/revoke"`,
			`action="/admin/users/alice/sessions/revoke-all"`,
			`action="/admin/users/alice/ban"`,
			"Revoke all 2 sessions",
		)
		r.WantNoBody("203.0.113.9", "Chrome 126")

		// A user with neither record nor session is an active user without
		// roles: sessiond has no user directory to say otherwise.
		b.Get("/admin/users/nobody").WantPage(http.StatusOK, `id="status">active<`, "No live sessions")

		// The console's own session shows on its key's page.
		b.Get("/admin/users/apikey:"+c.keyRec.ID).WantPage(http.StatusOK, "This console")
	})
}

// User ids may hold any printable character; each is one path segment.
func TestUserIDsNeedingEscapes(t *testing.T) {
	c := newMemoryConsole(t)
	b := c.signedIn()
	for _, id := range []string{"team/alice", "alice smith", "a?b#c", "..", ".", "100%", "ünïcødé", "<script>"} {
		token := c.newSession(id, "192.0.2.1", browsertest.UAFirefox)
		path := userURL(id)
		b.Get("/admin/users?" + url.Values{"user": {id}}.Encode()).WantRedirect(path)
		b.Get(path).WantPage(http.StatusOK, "Revoke all 1 session").WantNoBody("<script>")
		b.Post(path+"/roles", url.Values{"roles": {"support"}}).WantRedirect(path)
		if u, ok := c.valid(token); !ok || !u.HasRole("support") {
			t.Errorf("%q: roles %+v", id, u)
		}
		b.Post(path+"/ban", nil).WantRedirect(path)
		if _, ok := c.valid(token); ok {
			t.Errorf("%q: banned, yet the session lives", id)
		}
	}
}

func TestRevokeOneSession(t *testing.T) {
	forEachStore(t, func(t *testing.T, c *testConsole) {
		laptop := c.newSession("alice", "198.51.100.4", browsertest.UAFirefox)
		phone := c.newSession("alice", "198.51.100.5", browsertest.UAIPhone)
		bob := c.newSession("bob", "203.0.113.9", browsertest.UAChrome)
		b := c.signedIn()

		b.Post("/admin/users/alice/sessions/"+c.idOf(phone)+"/revoke", nil).WantRedirect("/admin/users/alice?m=revoked")
		if _, ok := c.valid(phone); ok {
			t.Fatal("the revoked session still validates")
		}
		if _, ok := c.valid(laptop); !ok {
			t.Fatal("revoking one session ended another")
		}
		b.Get("/admin/users/alice?m=revoked").WantPage(http.StatusOK, "The session has been revoked", "Revoke all 1 session").WantNoBody(c.idOf(phone))

		// The id must be a live session of the user the URL names.
		for _, id := range []string{
			c.idOf(phone),            // already gone
			c.idOf(bob),              // another user's
			strings.Repeat("A", 22),  // unknown
			strings.Repeat("ab", 32), // an id of the previous version
			"not-a-session-id",
			"%FF",
		} {
			b.Post("/admin/users/alice/sessions/"+id+"/revoke", nil).WantPage(http.StatusNotFound, "There is no such session")
		}
		if _, ok := c.valid(bob); !ok {
			t.Fatal("bob's session was revoked through alice's page")
		}
	})
}

func TestRevokeAllSessions(t *testing.T) {
	forEachStore(t, func(t *testing.T, c *testConsole) {
		tokens := []string{c.newSession("alice", "198.51.100.4", browsertest.UAFirefox), c.newSession("alice", "198.51.100.5", browsertest.UAIPhone)}
		bob := c.newSession("bob", "203.0.113.9", browsertest.UAChrome)
		b := c.signedIn()
		b.Post("/admin/users/alice/sessions/revoke-all", nil).WantRedirect("/admin/users/alice?m=revoked-all&n=2")
		for _, token := range tokens {
			if _, ok := c.valid(token); ok {
				t.Fatal("a session survived revoke-all")
			}
		}
		if _, ok := c.valid(bob); !ok {
			t.Fatal("revoke-all of alice ended bob's session")
		}
		b.Get("/admin/users/alice?m=revoked-all&n=2").WantPage(http.StatusOK, "Revoked 2 sessions.", "No live sessions")
		// Not a ban: alice signs in again.
		if token := c.newSession("alice", "198.51.100.4", browsertest.UAFirefox); token == "" {
			t.Fatal("no new session")
		}
	})
}

func TestBanAndUnban(t *testing.T) {
	forEachStore(t, func(t *testing.T, c *testConsole) {
		tokens := []string{c.newSession("alice", "198.51.100.4", browsertest.UAFirefox), c.newSession("alice", "198.51.100.5", browsertest.UAIPhone)}
		if _, err := c.m.PutUser(context.Background(), sessiond.User{ID: "alice", Status: sessiond.UserActive}.WithRoles("beta")); err != nil {
			t.Fatal(err)
		}
		b := c.signedIn()

		b.Post("/admin/users/alice/ban", nil).WantRedirect("/admin/users/alice?m=banned&n=2")
		for _, token := range tokens {
			if _, ok := c.valid(token); ok {
				t.Fatal("a banned user's session still validates")
			}
		}
		if _, _, err := c.m.Create(context.Background(), sessiond.NewSession{UserID: "alice"}); !errors.Is(err, sessiond.ErrUserBanned) {
			t.Fatalf("a banned user got a new session: %v", err)
		}
		b.Get("/admin/users/alice?m=banned&n=2").WantPage(http.StatusOK, "Banned: 2 sessions revoked",
			`id="status">banned<`, `action="/admin/users/alice/unban"`, `<span class="role">beta</span>`)

		b.Post("/admin/users/alice/unban", nil).WantRedirect("/admin/users/alice?m=unbanned")
		token := c.newSession("alice", "198.51.100.4", browsertest.UAFirefox)
		u, ok := c.valid(token)
		if !ok || u.Status != sessiond.UserActive || !u.HasRole("beta") {
			t.Fatalf("after unbanning: valid %v, user %+v (roles must survive a ban)", ok, u)
		}
		b.Get("/admin/users/alice?m=unbanned").WantPage(http.StatusOK, "Unbanned", `id="status">active<`, `action="/admin/users/alice/ban"`)
	})
}

func TestEditRoles(t *testing.T) {
	forEachStore(t, func(t *testing.T, c *testConsole) {
		token := c.newSession("alice", "198.51.100.4", browsertest.UAFirefox)
		b := c.signedIn()
		roles := func() []string {
			t.Helper()
			u, ok := c.valid(token)
			if !ok {
				t.Fatal("a role change ended the session")
			}
			return u.Roles()
		}

		b.Post("/admin/users/alice/roles", url.Values{"roles": {" admin, support\tbilling,,admin "}}).WantRedirect("/admin/users/alice?m=roles")
		if got := roles(); strings.Join(got, " ") != "admin support billing" {
			t.Fatalf("the next validation sees roles %q", got)
		}
		b.Get("/admin/users/alice?m=roles").WantPage(http.StatusOK, "Roles saved", `value="admin support billing"`)

		// Invalid roles: the page again, with the error and what was typed;
		// nothing stored.
		for _, typed := range []string{"bad role!", "ok " + strings.Repeat("r", 64+1), tooMany(), "caf\xe9"} {
			r := b.Post("/admin/users/alice/roles", url.Values{"roles": {typed}}).WantPage(http.StatusBadRequest, `class="alert"`, `name="roles"`)
			if typed == "bad role!" {
				r.WantBody(`value="bad role!"`, "roles are 1-64 characters")
			}
			if got := roles(); strings.Join(got, " ") != "admin support billing" {
				t.Fatalf("refused roles %q were stored: %q", typed, got)
			}
		}

		b.Post("/admin/users/alice/roles", url.Values{"roles": {""}}).WantRedirect("/admin/users/alice?m=roles")
		if got := roles(); len(got) != 0 {
			t.Fatalf("roles %q after clearing them", got)
		}
		b.Get("/admin/users/alice").WantPage(http.StatusOK, `<span class="muted">none</span>`)
	})
}

// Every POST is refused when a browser sends it from another site (CSRF),
// sign-in included (login CSRF), and the refusal is a page, not JSON.
func TestCrossSitePostsRefused(t *testing.T) {
	c := newMemoryConsole(t)
	token := c.newSession("alice", "198.51.100.4", browsertest.UAFirefox)
	id := c.idOf(token)
	b := c.signedIn()
	for _, path := range []string{
		"/admin/users/alice/ban",
		"/admin/users/alice/sessions/" + id + "/revoke",
		"/admin/users/alice/sessions/revoke-all",
		"/admin/users/alice/roles",
		"/admin/logout",
	} {
		for _, attack := range [][]string{{"Sec-Fetch-Site", "cross-site"}, {"Sec-Fetch-Site", "same-site"}, {"Origin", "https://evil.example"}} {
			b.Post(path, url.Values{"roles": {"admin"}}, attack...).WantPage(http.StatusForbidden, "sent from another site")
		}
	}
	if u, ok := c.valid(token); !ok || len(u.Roles()) != 0 {
		t.Fatalf("a cross-site post changed alice: valid %v, %+v", ok, u)
	}
	b.Get("/admin/").WantStatus(http.StatusOK) // still signed in
	c.browser().Post("/admin/login", url.Values{"api_key": {c.key}}, "Sec-Fetch-Site", "cross-site").WantPage(http.StatusForbidden)

	// The same posts from the console itself go through.
	b.Post("/admin/users/alice/roles", url.Values{"roles": {"x"}}, "Sec-Fetch-Site", "same-origin").WantRedirect("/admin/users/alice")
	b.Post("/admin/users/alice/roles", url.Values{"roles": {"y"}}, "Origin", c.srv.URL).WantRedirect("/admin/users/alice")
}

// Bad input gets a 4xx page, never a 5xx.
func TestBadInput(t *testing.T) {
	c := newMemoryConsole(t)
	b := c.signedIn()
	long := strings.Repeat("u", 256+1)
	for _, path := range []string{"/admin/users/%FF", "/admin/users/" + long, "/admin/users/a%00b", "/admin/users/a%0Ab"} {
		b.Get(path).WantPage(http.StatusBadRequest, "That is not a valid user id")
		for _, action := range []string{"/ban", "/unban", "/roles", "/sessions/revoke-all", "/sessions/" + strings.Repeat("ab", 32) + "/revoke"} {
			b.Post(path+action, nil).WantPage(http.StatusBadRequest, "That is not a valid user id")
		}
	}
	for _, query := range []string{"", "user=", "user=+", "user=%FF", "user=" + long, "user=a%00"} {
		b.Get("/admin/users?"+query).WantPage(http.StatusBadRequest, "Enter a user id", `name="user"`)
	}
	huge := url.Values{"roles": {strings.Repeat("x", maxBodyBytes)}}
	b.Post("/admin/users/alice/roles", huge).WantPage(http.StatusRequestEntityTooLarge, "The form is too large")
	c.browser().Post("/admin/login", url.Values{"api_key": {strings.Repeat("x", maxBodyBytes)}}).WantPage(http.StatusRequestEntityTooLarge)
	bad, err := http.NewRequest("POST", c.srv.URL+"/admin/users/alice/roles", strings.NewReader("roles=%zz"))
	if err != nil {
		t.Fatal(err)
	}
	bad.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	bad.AddCookie(b.Cookie)
	resp, err := c.srv.Client().Do(bad)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a form that does not parse: %d, want 400", resp.StatusCode)
	}
	b.Get("/admin/nowhere").WantPage(http.StatusNotFound, "There is no such page")
	b.Get("/admin/users/alice/ban").WantPage(http.StatusNotFound)
	b.Do("DELETE", "/admin/users/alice", nil).WantPage(http.StatusNotFound)
	b.Get("/admin/users/alice").WantStatus(http.StatusOK) // and the console still works
}

// A store that cannot answer fails closed: a 503 page, never a page as if
// signed in, and no sign-in.
func TestStoreDown(t *testing.T) {
	c := newTestConsole(t, openSQLite(t))
	b := c.signedIn()
	c.store.Close()
	b.Get("/admin/").WantPage(http.StatusServiceUnavailable, "The session store is unavailable").WantNoBody("Log out")
	b.Get("/admin/users/alice").WantPage(http.StatusServiceUnavailable)
	b.Post("/admin/users/alice/ban", nil).WantPage(http.StatusServiceUnavailable)
	c.browser().login(c.key).WantPage(http.StatusServiceUnavailable, "The session store is unavailable")
	b.Get("/admin/static/style.css").WantStatus(http.StatusOK) // the error page keeps its looks
	if !strings.Contains(c.logs.String(), "store unavailable") {
		t.Errorf("the outage was not logged:\n%s", c.logs)
	}
}

func TestNewPanicsWithoutStores(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("New without a manager and key store did not panic")
		}
	}()
	New(Options{})
}

// tooMany is one role more than a user may have.
func tooMany() string {
	var roles []string
	for i := range 64 + 1 { // sessiond allows 64
		roles = append(roles, "r"+strconv.Itoa(i))
	}
	return strings.Join(roles, " ")
}

func TestParseRoles(t *testing.T) {
	for in, want := range map[string]string{
		"":                      "",
		" , ,":                  "",
		"admin":                 "admin",
		"a,b c\td\ne":           "a b c d e",
		"admin, admin  support": "admin support",
	} {
		if got := strings.Join(parseRoles(in), " "); got != want {
			t.Errorf("parseRoles(%q) = %q, want %q", in, got, want)
		}
	}
}
