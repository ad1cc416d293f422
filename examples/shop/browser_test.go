package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/sessiond/sessiond/internal/testserver"
)

// TestBrowser drives the real shop — started by run, as `go run` would,
// over an SQLite file — with Debian's headless Chromium: what a user sees,
// and what the browser really does with the cookie. Each browser has its
// own profile, so two browsers are two devices.
//
// Chromium accepts the __Host-session cookie (Secure) over plain
// http://127.0.0.1 and http://localhost: both are "potentially trustworthy"
// origins, and the cookie's source scheme is recorded as Secure.
func TestBrowser(t *testing.T) {
	exe := testserver.NeedBinary(t, "chromium")
	base := startShop(t)
	shots := screenshotDir(t)
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow() // the steps build on each other
		}
	}
	laptop := newChrome(t, exe, base, "")
	phone := newChrome(t, exe, base, uaIPhone)

	step("a protected page sends the browser to sign in", func(t *testing.T) {
		laptop.open(t, "/cart")
		laptop.wantPath(t, "/login")
		laptop.screenshot(t, shots, "login.png")
	})

	step("sign in", func(t *testing.T) {
		laptop.signIn(t, "alice")
		if got := laptop.text(t, "#logout"); got != "Log out" {
			t.Fatalf("no Log out button (got %q)", got)
		}
	})

	var aliceCookie string
	step("the cookie as the browser stores it", func(t *testing.T) {
		c := laptop.sessionCookie(t)
		if c == nil {
			t.Fatal("the browser holds no __Host-session cookie")
		}
		if !c.HTTPOnly || !c.Secure || c.SameSite != network.CookieSameSiteLax || c.Path != "/" || !c.Session {
			t.Fatalf("cookie: HttpOnly=%v Secure=%v SameSite=%q Path=%q Session=%v; want HttpOnly, Secure, Lax, /, a browser-session cookie",
				c.HTTPOnly, c.Secure, c.SameSite, c.Path, c.Session)
		}
		if c.Domain != "127.0.0.1" {
			t.Errorf("cookie domain %q: a __Host- cookie is host-only", c.Domain)
		}
		if !strings.HasPrefix(c.Value, "sess_") {
			t.Errorf("cookie value %.8q… is not a sessiond token", c.Value)
		}
		if got := laptop.eval(t, "document.cookie"); got != "" {
			t.Errorf("script reads cookies %q: the session cookie must be HttpOnly", got)
		}
		aliceCookie = c.Value
	})

	step("add to cart and see it in the cart", func(t *testing.T) {
		laptop.click(t, "#add-tea")
		laptop.click(t, "#add-beans")
		laptop.click(t, "#add-tea")
		if got := laptop.text(t, ".count"); got != "3" {
			t.Errorf("the header's cart count is %q, want 3", got)
		}
		laptop.screenshot(t, shots, "catalogue.png")
		laptop.open(t, "/cart")
		if tea, beans := laptop.text(t, "#qty-tea"), laptop.text(t, "#qty-beans"); tea != "2" || beans != "1" {
			t.Fatalf("cart: tea %q, beans %q; want 2 and 1", tea, beans)
		}
		if got := laptop.text(t, "#total"); got != "€49.00" {
			t.Errorf("total %q, want €49.00", got)
		}
		laptop.screenshot(t, shots, "cart.png")
	})

	step("a form on another site cannot post to the shop", func(t *testing.T) {
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!doctype html><title>Prizes</title><form method="post" action="%s/cart/add"><input type="hidden" name="product" value="kettle"><button id="go">Win a prize</button></form>`, base)
		}))
		defer evil.Close()
		// localhost is another site than 127.0.0.1.
		laptop.openURL(t, strings.Replace(evil.URL, "127.0.0.1", "localhost", 1))
		if status := laptop.click(t, "#go"); status != http.StatusForbidden {
			t.Errorf("the cross-site post answered %d, want 403", status)
		}
		laptop.open(t, "/cart")
		if got := laptop.text(t, "#qty-kettle"); got != "" {
			t.Fatalf("the cross-site post added a kettle (%q)", got)
		}
	})

	step("two devices; revoke the other one", func(t *testing.T) {
		phone.viewport(t, 390, 844)
		phone.signIn(t, "alice")
		phone.screenshot(t, shots, "catalogue-phone.png")
		phone.viewport(t, 1200, 800)

		laptop.open(t, "/account/sessions")
		page := laptop.text(t, "table.devices tbody")
		if !strings.Contains(page, "Headless Chrome") || !strings.Contains(page, "Safari 17 on iPhone") || !strings.Contains(page, "This device") {
			t.Fatalf("the devices page lists:\n%s", page)
		}
		laptop.screenshot(t, shots, "devices.png")
		laptop.click(t, `form[action$="/revoke"] button`)
		laptop.wantPath(t, "/account/sessions?m=revoked")

		phone.open(t, "/cart")
		phone.wantPath(t, "/login")
		if c := phone.sessionCookie(t); c != nil {
			t.Error("the revoked device still holds its cookie: the shop should have cleared it")
		}
	})

	admin := newChrome(t, exe, base, "")
	step("an admin bans bob while bob is signed in", func(t *testing.T) {
		phone.signIn(t, "bob")
		admin.signIn(t, "admin")
		admin.open(t, "/admin/users")
		admin.click(t, `#user-bob form[action$="/ban"] button`)
		if got := admin.text(t, "#user-bob .status"); got != "banned" {
			t.Fatalf("bob's status shows %q", got)
		}
		admin.screenshot(t, shots, "admin.png")

		phone.open(t, "/")
		if got := phone.whoami(t); got != "" {
			t.Fatalf("banned bob's next page load is signed in as %q", got)
		}
		phone.open(t, "/login")
		phone.fill(t, "username", "bob")
		phone.fill(t, "password", testPassword)
		if status := phone.click(t, "#signin"); status != http.StatusForbidden {
			t.Errorf("a banned sign-in answered %d, want 403", status)
		}
		if got := phone.text(t, ".alert"); !strings.Contains(got, "banned") {
			t.Errorf("the sign-in page says %q", got)
		}
	})

	step("a role change is seen on the very next request", func(t *testing.T) {
		laptop.open(t, "/admin/users")
		if got := laptop.text(t, "h1"); got == "Users" {
			t.Fatal("customer alice sees the admin page")
		}
		setRole := func(role string) {
			admin.open(t, "/admin/users")
			admin.setValue(t, "#user-alice select", role)
			admin.click(t, `#user-alice form[action$="/role"] button`)
		}
		setRole("admin")
		laptop.open(t, "/admin/users")
		if got := laptop.text(t, "h1"); got != "Users" {
			t.Fatalf("alice, made admin, gets %q", got)
		}
		setRole("customer")
		if status := laptop.open(t, "/admin/users"); status != http.StatusForbidden {
			t.Fatalf("alice, made customer again, gets %d", status)
		}
	})

	step("log out; the old cookie, replayed, is refused", func(t *testing.T) {
		laptop.open(t, "/")
		old := laptop.sessionCookie(t).Value
		if old != aliceCookie {
			t.Error("the token changed without a sign-in")
		}
		laptop.click(t, "#logout")
		laptop.wantPath(t, "/login?m=signed-out")
		if laptop.sessionCookie(t) != nil {
			t.Fatal("the cookie survived logout")
		}

		// Put the old cookie back into the browser...
		laptop.setSessionCookie(t, old)
		laptop.open(t, "/cart")
		laptop.wantPath(t, "/login")
		// ...and send it from outside any browser.
		req, _ := http.NewRequest("GET", base+"/cart", nil)
		req.Header.Set("Accept", "application/json")
		req.AddCookie(&http.Cookie{Name: "__Host-session", Value: old})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("the replayed cookie got %d, want 401", resp.StatusCode)
		}
	})

	step("localhost accepts the __Host- cookie over http too", func(t *testing.T) {
		local := strings.Replace(base, "127.0.0.1", "localhost", 1)
		laptop.openURL(t, local+"/login")
		laptop.fill(t, "username", "admin")
		laptop.fill(t, "password", testPassword)
		laptop.click(t, "#signin")
		if got := laptop.whoami(t); got != "admin" {
			t.Fatalf("signed in on localhost as %q", got)
		}
	})
}

// chrome is one headless Chromium with its own profile: one device.
type chrome struct {
	ctx  context.Context
	base string
}

// newChrome starts Chromium with the flags a container needs and nothing
// that reaches the network: no sandbox (tests may run as root), no GPU, no
// first-run, background, component-update or sync traffic, no QUIC.
func newChrome(t *testing.T, exe, base, userAgent string) *chrome {
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
	if userAgent != "" {
		opts = append(opts, chromedp.UserAgent(userAgent))
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
	// on a context with a deadline: chromedp ties the browser's life to
	// the context that started it, and would kill it when the deadline's
	// context is released. A timer bounds the start instead.
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

// open loads a page of the shop and returns the final response's status.
func (c *chrome) open(t *testing.T, path string) int {
	t.Helper()
	return c.openURL(t, c.base+path)
}

func (c *chrome) openURL(t *testing.T, u string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 20*time.Second)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(u))
	if err != nil {
		t.Fatalf("open %s: %v", u, err)
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

func (c *chrome) setValue(t *testing.T, selector, value string) {
	t.Helper()
	c.run(t, chromedp.SetValue(chromedp.CSS(selector), value))
}

func (c *chrome) viewport(t *testing.T, width, height int64) {
	t.Helper()
	c.run(t, chromedp.EmulateViewport(width, height))
}

func (c *chrome) signIn(t *testing.T, user string) {
	t.Helper()
	c.open(t, "/login")
	c.fill(t, "username", user)
	c.fill(t, "password", testPassword)
	c.click(t, "#signin")
	c.wantPath(t, "/")
	if got := c.whoami(t); got != user {
		t.Fatalf("signed in as %q, want %q", got, user)
	}
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

// text is the trimmed text of the first element matching selector, or ""
// if there is none.
func (c *chrome) text(t *testing.T, selector string) string {
	t.Helper()
	return strings.TrimSpace(c.eval(t, fmt.Sprintf(`(document.querySelector(%q) || {textContent: ""}).textContent`, selector)))
}

// whoami is the signed-in user the page's header names, or "".
func (c *chrome) whoami(t *testing.T) string {
	t.Helper()
	return c.text(t, "#user")
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

// sessionCookie returns the session cookie from the browser's cookie store,
// or nil.
func (c *chrome) sessionCookie(t *testing.T) *network.Cookie {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 20*time.Second)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{c.base}})
	if err != nil {
		t.Fatal(err)
	}
	for _, ck := range res.Cookies {
		if ck.Name == "__Host-session" {
			return ck
		}
	}
	return nil
}

// setSessionCookie puts a session cookie into the browser, as an attacker
// replaying a stolen value would.
func (c *chrome) setSessionCookie(t *testing.T, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 20*time.Second)
	defer cancel()
	yes := true
	_, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{
		Name: "__Host-session", Value: value, URL: c.base + "/", Path: "/",
		Secure: &yes, HTTPOnly: &yes, SameSite: network.CookieSameSiteLax,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.sessionCookie(t); got == nil || got.Value != value {
		t.Fatal("the browser refused the replayed cookie")
	}
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

// startShop runs the program itself — flags, key file, SQLite store — on a
// free port, and returns its URL once it answers.
func startShop(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(testserver.FreePort(t)))
	env := map[string]string{"XDG_DATA_HOME": dir} // no SESSIOND_SECRET: a key file is made
	args := []string{"--addr", addr, "--store", "sqlite://" + filepath.Join(dir, "shop.db"), "--demo-password", testPassword}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, func(k string) string { return env[k] }, logs) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		if t.Failed() {
			t.Logf("shop log:\n%s", logs)
		}
	})

	base := "http://" + addr
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(base + "/login"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("the shop stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the shop did not answer within 20s")
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "sessiond-shop", "secret.key")); err != nil {
		t.Errorf("no key file: %v", err)
	}
	return base
}

// lockedBuffer collects the shop's log from its goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
