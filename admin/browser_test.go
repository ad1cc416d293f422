package admin

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testserver"
	"github.com/sessiond/sessiond/server"
)

// TestBrowser drives the console with Debian's headless Chromium, mounted
// the way `sessiond serve` mounts it and over an SQLite file: what an
// operator sees, and what the browser really does with the admin cookie.
//
// Chromium accepts the __Host- cookie (Secure) over plain http://127.0.0.1:
// a loopback origin is "potentially trustworthy".
func TestBrowser(t *testing.T) {
	exe := testserver.NeedBinary(t, "chromium")
	store := openSQLite(t)
	keys, err := sessiond.NewKeyring([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	m := sessiond.NewManager(store, keys, sessiond.Config{})
	apiKey, rec := server.NewAPIKey("ops laptop", time.Now())
	if err := store.CreateAPIKey(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/", New(Config{
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
	if _, err := m.PutUser(ctx, &sessiond.User{ID: "alice", Status: sessiond.UserActive, Roles: []string{"customer"}}); err != nil {
		t.Fatal(err)
	}
	laptop := createAt(t, m, keys, time.Now().Add(-70*time.Minute), "alice", "198.51.100.4", uaFirefox)
	phone := createAt(t, m, keys, time.Now().Add(-4*time.Minute), "alice", "2001:db8::7", uaIPhone)

	shots := screenshotDir(t)
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow() // the steps build on each other
		}
	}
	op := newChrome(t, exe, srv.URL)

	step("the console sends the browser to sign in", func(t *testing.T) {
		op.open(t, "/admin/")
		op.wantPath(t, "/admin/login")
		op.fill(t, "api_key", "sk_not-a-key")
		if status := op.click(t, "#signin"); status != http.StatusUnauthorized {
			t.Fatalf("a wrong key answered %d, want 401", status)
		}
		if got := op.text(t, ".alert"); !strings.Contains(got, "not valid") {
			t.Fatalf("the form says %q", got)
		}
	})

	var adminToken string
	step("sign in with an API key", func(t *testing.T) {
		op.fill(t, "api_key", apiKey)
		op.click(t, "#signin")
		op.wantPath(t, "/admin/")
		if got := op.text(t, "#key"); got != "ops laptop" {
			t.Fatalf("the header names key %q", got)
		}
		if got := op.text(t, "#active-sessions"); got != "12,408" {
			t.Errorf("active sessions %q", got)
		}
		op.screenshot(t, shots, "admin-dashboard.png")
	})

	step("the admin cookie as the browser stores it", func(t *testing.T) {
		c := op.cookie(t, CookieName)
		if c == nil {
			t.Fatal("the browser holds no __Host-sessiond-admin cookie")
		}
		if !c.HTTPOnly || !c.Secure || c.SameSite != network.CookieSameSiteLax || c.Path != "/" || !c.Session {
			t.Fatalf("cookie: HttpOnly=%v Secure=%v SameSite=%q Path=%q Session=%v; want HttpOnly, Secure, Lax, /, a browser-session cookie",
				c.HTTPOnly, c.Secure, c.SameSite, c.Path, c.Session)
		}
		if c.Domain != "127.0.0.1" {
			t.Errorf("cookie domain %q: a __Host- cookie is host-only", c.Domain)
		}
		if !strings.HasPrefix(c.Value, sessiond.TokenPrefix) {
			t.Errorf("cookie value %.8q… is not a sessiond token", c.Value)
		}
		if got := op.eval(t, "document.cookie"); got != "" {
			t.Errorf("script reads cookies %q: the admin cookie must be HttpOnly", got)
		}
		adminToken = c.Value
	})

	step("find a user with two sessions", func(t *testing.T) {
		op.fill(t, "user", "alice")
		op.click(t, "#find")
		op.wantPath(t, "/admin/users/alice")
		rows := op.text(t, "table.sessions tbody")
		for _, want := range []string{"Firefox 128 on Linux", "Safari 17 on iPhone", "198.51.100.4", "2001:db8::7", "1 hour ago", "4 minutes ago"} {
			if !strings.Contains(rows, want) {
				t.Errorf("the sessions table lacks %q:\n%s", want, rows)
			}
		}
		if n := op.eval(t, `String(document.querySelectorAll("table.sessions tbody tr").length)`); n != "2" {
			t.Fatalf("%s session rows, want 2", n)
		}
		op.screenshot(t, shots, "admin-user.png")
	})

	step("revoke one session", func(t *testing.T) {
		op.click(t, "#session-"+sessiond.SessionID(phone)+" button")
		op.wantPath(t, "/admin/users/alice?m=revoked")
		if n := op.eval(t, `String(document.querySelectorAll("table.sessions tbody tr").length)`); n != "1" {
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
		op.fill(t, "roles-input", "customer, support")
		op.click(t, "#save-roles")
		op.wantPath(t, "/admin/users/alice?m=roles")
		if got := op.text(t, "#roles"); got != "customer support" {
			t.Errorf("the page shows roles %q", got)
		}
		_, u, err := m.Validate(ctx, laptop)
		if err != nil || !u.HasRole("support") {
			t.Fatalf("the next validation: %v, %+v", err, u)
		}
	})

	step("ban", func(t *testing.T) {
		op.click(t, "#ban")
		op.wantPath(t, "/admin/users/alice?m=banned&n=1")
		if got := op.text(t, "#status"); got != "banned" {
			t.Fatalf("status shows %q", got)
		}
		if _, _, err := m.Validate(ctx, laptop); err == nil {
			t.Fatal("a banned user's session still validates")
		}
	})

	step("the pages fit a phone", func(t *testing.T) {
		if _, err := m.PutUser(ctx, &sessiond.User{ID: "alice", Status: sessiond.UserActive, Roles: []string{"customer", "support"}}); err != nil {
			t.Fatal(err)
		}
		createAt(t, m, keys, time.Now().Add(-2*time.Hour), "alice", "198.51.100.4", uaFirefox)
		createAt(t, m, keys, time.Now(), "alice", "2001:db8::7", uaIPhone)
		op.viewport(t, 390, 844)
		defer op.viewport(t, 1200, 800)
		for _, page := range []string{"/admin/", "/admin/users/alice"} {
			op.open(t, page)
			if overflow := op.eval(t, `String(document.documentElement.scrollWidth > window.innerWidth)`); overflow != "false" {
				t.Errorf("%s is wider than a phone", page)
			}
		}
		op.screenshot(t, shots, "admin-user-phone.png")
	})

	step("log out; the old cookie, replayed, is refused", func(t *testing.T) {
		op.click(t, "#logout")
		op.wantPath(t, "/admin/login?m=signed-out")
		if op.cookie(t, CookieName) != nil {
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
// timeout that keeps the session alive until now.
func createAt(t *testing.T, m *sessiond.Manager, keys *sessiond.Keyring, at time.Time, user, ip, ua string) string {
	t.Helper()
	then := sessiond.NewManager(m.Store(), keys, sessiond.Config{Now: func() time.Time { return at }})
	token, _, err := then.Create(context.Background(), sessiond.NewSession{
		UserID: user, IdleTimeout: 24 * time.Hour, Client: sessiond.Client{IP: ip, UserAgent: ua},
	})
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// chrome is one headless Chromium with its own, fresh profile.
type chrome struct {
	ctx  context.Context
	base string
}

// newChrome starts Chromium with the flags a container needs and nothing
// that reaches the network: no sandbox (tests may run as root), no GPU, no
// first-run, background, component-update or sync traffic, no QUIC.
func newChrome(t *testing.T, exe, base string) *chrome {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 800),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		// Close gracefully and wait, so that no Chromium process still
		// writes into the profile when t.TempDir removes it.
		closing, done := context.WithTimeout(ctx, 10*time.Second)
		chromedp.Cancel(closing) // reports the pipe it closed itself: nothing to check
		done()
		cancel()
		cancelAlloc()
	})
	// Start the browser now. The first action must run on ctx itself, not
	// on a context with a deadline: chromedp ties the browser's life to the
	// context that started it. A timer bounds the start instead.
	timer := time.AfterFunc(30*time.Second, cancel)
	err := chromedp.Do(ctx, chromedp.Navigate("about:blank"))
	if !timer.Stop() || err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return &chrome{ctx: ctx, base: base}
}

// run runs actions with a deadline, so that a page that never comes fails
// the test instead of hanging it.
func (c *chrome) run(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// open loads a page and returns the final response's status.
func (c *chrome) open(t *testing.T, path string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 20*time.Second)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(c.base+path))
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	return int(resp.Status)
}

// click clicks an element that submits a form or follows a link, waits for
// the new page and returns its status.
func (c *chrome) click(t *testing.T, selector string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 20*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(selector)))
	if err != nil {
		t.Fatalf("click %s: %v", selector, err)
	}
	return int(resp.Status)
}

func (c *chrome) fill(t *testing.T, id, value string) {
	t.Helper()
	c.run(t, chromedp.Clear(chromedp.ID(id)), chromedp.SendKeys(chromedp.ID(id), value))
}

func (c *chrome) viewport(t *testing.T, width, height int64) {
	t.Helper()
	c.run(t, chromedp.EmulateViewport(width, height))
}

// eval evaluates a JavaScript expression that yields a string. The page's
// Content-Security-Policy forbids scripts, but not the DevTools protocol.
func (c *chrome) eval(t *testing.T, expression string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expression))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expression, err)
	}
	return s
}

// text is the trimmed text of the first element matching selector, with
// runs of white space as one space, or "" if there is none.
func (c *chrome) text(t *testing.T, selector string) string {
	t.Helper()
	s := c.eval(t, fmt.Sprintf(`(document.querySelector(%q) || {textContent: ""}).textContent`, selector))
	return strings.Join(strings.Fields(s), " ")
}

// wantPath checks the path (and query, if want has one) of the current page.
func (c *chrome) wantPath(t *testing.T, want string) {
	t.Helper()
	loc := c.eval(t, "location.href")
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	got := u.Path
	if strings.Contains(want, "?") {
		got = u.RequestURI()
	}
	if got != want {
		t.Fatalf("the browser is at %s, want %s", loc, want)
	}
}

// cookie returns a cookie from the browser's cookie store, or nil.
func (c *chrome) cookie(t *testing.T, name string) *network.Cookie {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 20*time.Second)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{c.base}})
	if err != nil {
		t.Fatal(err)
	}
	for _, ck := range res.Cookies {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

// screenshot saves the whole page as a PNG test artifact.
func (c *chrome) screenshot(t *testing.T, dir, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// screenshotDir is $SESSIOND_ARTIFACTS/screenshots, or a temporary
// directory.
func screenshotDir(t *testing.T) string {
	t.Helper()
	root := os.Getenv("SESSIOND_ARTIFACTS")
	if root == "" {
		root = t.TempDir()
	}
	dir := filepath.Join(root, "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}
