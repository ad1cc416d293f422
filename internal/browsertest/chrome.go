package browsertest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/sessiond/sessiond/internal/testserver"
)

// actionTimeout bounds every action, so that a page that never comes fails
// the test instead of hanging it.
const actionTimeout = 20 * time.Second

// Chrome is one headless Chromium with its own, fresh profile: one device.
// Two Chromes share no cookie.
type Chrome struct {
	ctx  context.Context
	base string
}

// NewChrome starts Debian's chromium (skipping the test if it is not
// installed, failing it under CI=true) for pages below base, such as
// "http://127.0.0.1:8080". userAgent replaces Chromium's own User-Agent
// header unless it is empty. The browser is closed when the test ends.
//
// The flags are those a container needs, and nothing reaches the network:
// no sandbox (tests may run as root), no GPU, no first-run, background,
// component-update or sync traffic, no QUIC.
func NewChrome(t testing.TB, base, userAgent string) *Chrome {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(testserver.NeedBinary(t, "chromium")),
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
	return &Chrome{ctx: ctx, base: base}
}

// Run runs actions with a deadline.
func (c *Chrome) Run(t testing.TB, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, actionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// Open loads the page at path below base and returns the final response's
// status.
func (c *Chrome) Open(t testing.TB, path string) int {
	t.Helper()
	return c.OpenURL(t, c.base+path)
}

// OpenURL loads any page, another site's say, and returns the final
// response's status.
func (c *Chrome) OpenURL(t testing.TB, u string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, actionTimeout)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(u))
	if err != nil {
		t.Fatalf("open %s: %v", u, err)
	}
	return int(resp.Status)
}

// Click clicks an element that submits a form or follows a link, waits for
// the new page and returns its status.
func (c *Chrome) Click(t testing.TB, selector string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, actionTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(selector)))
	if err != nil {
		t.Fatalf("click %s: %v", selector, err)
	}
	return int(resp.Status)
}

// Fill types value into the field with the given id, replacing its text.
func (c *Chrome) Fill(t testing.TB, id, value string) {
	t.Helper()
	c.Run(t, chromedp.Clear(chromedp.ID(id)), chromedp.SendKeys(chromedp.ID(id), value))
}

// SetValue sets the value of the element matching selector, a <select>
// say.
func (c *Chrome) SetValue(t testing.TB, selector, value string) {
	t.Helper()
	c.Run(t, chromedp.SetValue(chromedp.CSS(selector), value))
}

// Viewport resizes the page, to a phone's 390×844 say.
func (c *Chrome) Viewport(t testing.TB, width, height int64) {
	t.Helper()
	c.Run(t, chromedp.EmulateViewport(width, height))
}

// Eval evaluates a JavaScript expression that yields a string. The pages'
// Content-Security-Policy forbids scripts, but not the DevTools protocol.
func (c *Chrome) Eval(t testing.TB, expression string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, actionTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expression))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expression, err)
	}
	return s
}

// Text is the trimmed text of the first element matching selector, with
// runs of white space as one space, or "" if there is none.
func (c *Chrome) Text(t testing.TB, selector string) string {
	t.Helper()
	s := c.Eval(t, fmt.Sprintf(`(document.querySelector(%q) || {textContent: ""}).textContent`, selector))
	return strings.Join(strings.Fields(s), " ")
}

// WantPath checks the path (and query, if want has one) of the current
// page.
func (c *Chrome) WantPath(t testing.TB, want string) {
	t.Helper()
	loc := c.Eval(t, "location.href")
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

// Cookie returns the cookie called name that the browser's cookie store
// holds for base, or nil: what the browser really kept of a Set-Cookie.
func (c *Chrome) Cookie(t testing.TB, name string) *network.Cookie {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, actionTimeout)
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

// WantSessionCookie checks the cookie called name as the browser stored
// it, and returns it: a sessiond token in a cookie that is HttpOnly — no
// script on the page can read it —, Secure, SameSite=Lax, Path=/, host-only
// (as the __Host- prefix demands) and gone when the browser closes.
func (c *Chrome) WantSessionCookie(t testing.TB, name string) *network.Cookie {
	t.Helper()
	ck := c.Cookie(t, name)
	if ck == nil {
		t.Fatalf("the browser holds no %s cookie", name)
	}
	if !ck.HTTPOnly || !ck.Secure || ck.SameSite != network.CookieSameSiteLax || ck.Path != "/" || !ck.Session {
		t.Fatalf("cookie: HttpOnly=%v Secure=%v SameSite=%q Path=%q Session=%v; want HttpOnly, Secure, Lax, /, a browser-session cookie",
			ck.HTTPOnly, ck.Secure, ck.SameSite, ck.Path, ck.Session)
	}
	base, err := url.Parse(c.base)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Domain != base.Hostname() {
		t.Errorf("cookie domain %q: a __Host- cookie is host-only", ck.Domain)
	}
	if !strings.HasPrefix(ck.Value, tokenPrefix) {
		t.Errorf("cookie value %.8q… is not a sessiond token", ck.Value)
	}
	if got := c.Eval(t, "document.cookie"); got != "" {
		t.Errorf("script reads cookies %q: the %s cookie must be HttpOnly", got, name)
	}
	return ck
}

// SetCookie puts a session cookie into the browser for base — Secure,
// HttpOnly, SameSite=Lax, Path=/ — as an attacker replaying a stolen value
// would, and checks that the browser kept it.
func (c *Chrome) SetCookie(t testing.TB, name, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, actionTimeout)
	defer cancel()
	yes := true
	_, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{
		Name: name, Value: value, URL: c.base + "/", Path: "/",
		Secure: &yes, HTTPOnly: &yes, SameSite: network.CookieSameSiteLax,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Cookie(t, name); got == nil || got.Value != value {
		t.Fatalf("the browser refused the cookie %s", name)
	}
}

// Screenshot saves the whole page as a PNG test artifact in dir (see
// ScreenshotDir).
func (c *Chrome) Screenshot(t testing.TB, dir, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, actionTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// ScreenshotDir is $SESSIOND_ARTIFACTS/screenshots, where CI collects the
// screenshots, or a temporary directory.
func ScreenshotDir(t testing.TB) string {
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
