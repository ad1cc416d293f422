package admin

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/browsertest"
	"github.com/sessiond/sessiond/server/apikey"
)

// TestBrowser drives the console with Debian's headless Chromium, mounted
// the way `sessiond serve` mounts it and over an SQLite file: what an
// operator sees, and what the browser really does with the admin cookie.
//
// Chromium accepts the __Host- cookie (Secure) over plain http://127.0.0.1:
// a loopback origin is "potentially trustworthy".
func TestBrowser(t *testing.T) {
	store := openSQLite(t)
	keys, err := sessiond.NewKeyring([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	m := sessiond.NewManager(store, keys, sessiond.Config{})
	apiKey, rec := apikey.New("ops laptop", time.Now())
	if err := store.CreateAPIKey(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/", New(Options{
		Manager: m,
		APIKeys: store,
		Stats: func() Stats {
			return Stats{ActiveSessions: 12408, ValidationsPerSecond: 1873.4, CacheHitRatio: 0.962}
		},
		Logger: slog.New(slog.DiscardHandler),
	}))
	mux.Handle("/", http.NotFoundHandler()) // the JSON API, in the real server
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	// alice signed in on two devices, an hour and a few minutes ago.
	ctx := context.Background()
	if _, err := m.PutUser(ctx, sessiond.User{ID: "alice", Status: sessiond.UserActive}.WithRoles("customer")); err != nil {
		t.Fatal(err)
	}
	laptop, _ := createAt(t, store, keys, time.Now().Add(-70*time.Minute), "alice", "198.51.100.4", browsertest.UAFirefox)
	phone, phoneID := createAt(t, store, keys, time.Now().Add(-4*time.Minute), "alice", "2001:db8::7", browsertest.UAIPhone)

	shots := browsertest.ScreenshotDir(t)
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow() // the steps build on each other
		}
	}
	op := browsertest.NewChrome(t, srv.URL, "")

	step("the console sends the browser to sign in", func(t *testing.T) {
		op.Open(t, "/admin/")
		op.WantPath(t, "/admin/login")
		op.Fill(t, "api_key", "sk_not-a-key")
		if status := op.Click(t, "#signin"); status != http.StatusUnauthorized {
			t.Fatalf("a wrong key answered %d, want 401", status)
		}
		if got := op.Text(t, ".alert"); !strings.Contains(got, "not valid") {
			t.Fatalf("the form says %q", got)
		}
	})

	var adminToken string
	step("sign in with an API key", func(t *testing.T) {
		op.Fill(t, "api_key", apiKey)
		op.Click(t, "#signin")
		op.WantPath(t, "/admin/")
		if got := op.Text(t, "#key"); got != "ops laptop" {
			t.Fatalf("the header names key %q", got)
		}
		if got := op.Text(t, "#active-sessions"); got != "12,408" {
			t.Errorf("active sessions %q", got)
		}
		op.Screenshot(t, shots, "admin-dashboard.png")
	})

	step("the admin cookie as the browser stores it", func(t *testing.T) {
		adminToken = op.WantSessionCookie(t, CookieName).Value
	})

	step("find a user with two sessions", func(t *testing.T) {
		op.Fill(t, "user", "alice")
		op.Click(t, "#find")
		op.WantPath(t, "/admin/users/alice")
		rows := op.Text(t, "table.sessions tbody")
		for _, want := range []string{"Firefox 128 on Linux", "Safari 17 on iPhone", "198.51.100.4", "2001:db8::7", "1 hour ago", "4 minutes ago"} {
			if !strings.Contains(rows, want) {
				t.Errorf("the sessions table lacks %q:\n%s", want, rows)
			}
		}
		if n := op.Eval(t, `String(document.querySelectorAll("table.sessions tbody tr").length)`); n != "2" {
			t.Fatalf("%s session rows, want 2", n)
		}
		op.Screenshot(t, shots, "admin-user.png")
	})

	step("revoke one session", func(t *testing.T) {
		op.Click(t, "#session-"+phoneID+" button")
		op.WantPath(t, "/admin/users/alice?m=revoked")
		if n := op.Eval(t, `String(document.querySelectorAll("table.sessions tbody tr").length)`); n != "1" {
			t.Fatalf("%s session rows after revoking one, want 1", n)
		}
		if _, _, err := m.Validate(ctx, phone); err == nil {
			t.Fatal("the revoked session still validates")
		}
		if _, _, err := m.Validate(ctx, laptop); err != nil {
			t.Fatalf("the other session: %v", err)
		}
	})

	step("edit roles", func(t *testing.T) {
		op.Fill(t, "roles-input", "customer, support")
		op.Click(t, "#save-roles")
		op.WantPath(t, "/admin/users/alice?m=roles")
		if got := op.Text(t, "#roles"); got != "customer support" {
			t.Errorf("the page shows roles %q", got)
		}
		_, u, err := m.Validate(ctx, laptop)
		if err != nil || !u.HasRole("support") {
			t.Fatalf("the next validation: %v, %+v", err, u)
		}
	})

	step("ban", func(t *testing.T) {
		op.Click(t, "#ban")
		op.WantPath(t, "/admin/users/alice?m=banned&n=1")
		if got := op.Text(t, "#status"); got != "banned" {
			t.Fatalf("status shows %q", got)
		}
		if _, _, err := m.Validate(ctx, laptop); err == nil {
			t.Fatal("a banned user's session still validates")
		}
	})

	step("the pages fit a phone", func(t *testing.T) {
		if _, err := m.PutUser(ctx, sessiond.User{ID: "alice", Status: sessiond.UserActive}.WithRoles("customer", "support")); err != nil {
			t.Fatal(err)
		}
		createAt(t, store, keys, time.Now().Add(-2*time.Hour), "alice", "198.51.100.4", browsertest.UAFirefox)
		createAt(t, store, keys, time.Now(), "alice", "2001:db8::7", browsertest.UAIPhone)
		op.Viewport(t, 390, 844)
		defer op.Viewport(t, 1200, 800)
		for _, page := range []string{"/admin/", "/admin/users/alice"} {
			op.Open(t, page)
			if overflow := op.Eval(t, `String(document.documentElement.scrollWidth > window.innerWidth)`); overflow != "false" {
				t.Errorf("%s is wider than a phone", page)
			}
		}
		op.Screenshot(t, shots, "admin-user-phone.png")
	})

	step("log out; the old cookie, replayed, is refused", func(t *testing.T) {
		op.Click(t, "#logout")
		op.WantPath(t, "/admin/login?m=signed-out")
		if op.Cookie(t, CookieName) != nil {
			t.Fatal("the cookie survived logout")
		}
		req, _ := http.NewRequest("GET", srv.URL+"/admin/", nil)
		req.Header.Set("Accept", "text/html")
		req.AddCookie(&http.Cookie{Name: CookieName, Value: adminToken})
		resp, err := srv.Client().Transport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/login" {
			t.Fatalf("the replayed cookie got %d to %q, want a redirect to sign in", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

// createAt signs user in from a device as if at time at, with an idle
// timeout that keeps the session alive until now, and returns its token
// and id.
func createAt(t *testing.T, store sessiond.Store, keys *sessiond.Keyring, at time.Time, user, ip, ua string) (token, id string) {
	t.Helper()
	then := sessiond.NewManager(store, keys, sessiond.Config{Now: func() time.Time { return at }})
	token, s, err := then.Create(context.Background(), sessiond.NewSession{
		UserID: user, IdleTimeout: 24 * time.Hour, Client: sessiond.Client{IP: ip, UserAgent: ua},
	})
	if err != nil {
		t.Fatal(err)
	}
	return token, s.ID
}
