package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"

	"github.com/sessiond/sessiond/internal/browsertest"
	"github.com/sessiond/sessiond/internal/testserver"
	"github.com/sessiond/sessiond/sessionhttp"
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
	base := startShop(t)
	shots := browsertest.ScreenshotDir(t)
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow() // the steps build on each other
		}
	}
	laptop := chrome{browsertest.NewChrome(t, base, "")}
	phone := chrome{browsertest.NewChrome(t, base, browsertest.UAIPhone)}

	step("a protected page sends the browser to sign in", func(t *testing.T) {
		laptop.Open(t, "/cart")
		laptop.WantPath(t, "/login")
		laptop.Screenshot(t, shots, "login.png")
	})

	step("sign in", func(t *testing.T) {
		laptop.signIn(t, "alice")
		if got := laptop.Text(t, "#logout"); got != "Log out" {
			t.Fatalf("no Log out button (got %q)", got)
		}
	})

	var aliceCookie string
	step("the cookie as the browser stores it", func(t *testing.T) {
		aliceCookie = laptop.WantSessionCookie(t, sessionhttp.DefaultCookieName).Value
	})

	step("add to cart and see it in the cart", func(t *testing.T) {
		laptop.Click(t, "#add-tea")
		laptop.Click(t, "#add-beans")
		laptop.Click(t, "#add-tea")
		if got := laptop.Text(t, ".count"); got != "3" {
			t.Errorf("the header's cart count is %q, want 3", got)
		}
		laptop.Screenshot(t, shots, "catalogue.png")
		laptop.Open(t, "/cart")
		if tea, beans := laptop.Text(t, "#qty-tea"), laptop.Text(t, "#qty-beans"); tea != "2" || beans != "1" {
			t.Fatalf("cart: tea %q, beans %q; want 2 and 1", tea, beans)
		}
		if got := laptop.Text(t, "#total"); got != "€49.00" {
			t.Errorf("total %q, want €49.00", got)
		}
		laptop.Screenshot(t, shots, "cart.png")
	})

	step("a form on another site cannot post to the shop", func(t *testing.T) {
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!doctype html><title>Prizes</title><form method="post" action="%s/cart/add"><input type="hidden" name="product" value="kettle"><button id="go">Win a prize</button></form>`, base)
		}))
		defer evil.Close()
		// localhost is another site than 127.0.0.1.
		laptop.OpenURL(t, strings.Replace(evil.URL, "127.0.0.1", "localhost", 1))
		if status := laptop.Click(t, "#go"); status != http.StatusForbidden {
			t.Errorf("the cross-site post answered %d, want 403", status)
		}
		laptop.Open(t, "/cart")
		if got := laptop.Text(t, "#qty-kettle"); got != "" {
			t.Fatalf("the cross-site post added a kettle (%q)", got)
		}
	})

	step("two devices; revoke the other one", func(t *testing.T) {
		phone.Viewport(t, 390, 844)
		phone.signIn(t, "alice")
		phone.Screenshot(t, shots, "catalogue-phone.png")
		phone.Viewport(t, 1200, 800)

		laptop.Open(t, "/account/sessions")
		page := laptop.Text(t, "table.devices tbody")
		if !strings.Contains(page, "Headless Chrome") || !strings.Contains(page, "Safari 17 on iPhone") || !strings.Contains(page, "This device") {
			t.Fatalf("the devices page lists:\n%s", page)
		}
		laptop.Screenshot(t, shots, "devices.png")
		laptop.Click(t, `form[action$="/revoke"] button`)
		laptop.WantPath(t, "/account/sessions?m=revoked")

		phone.Open(t, "/cart")
		phone.WantPath(t, "/login")
		if c := phone.sessionCookie(t); c != nil {
			t.Error("the revoked device still holds its cookie: the shop should have cleared it")
		}
	})

	admin := chrome{browsertest.NewChrome(t, base, "")}
	step("an admin bans bob while bob is signed in", func(t *testing.T) {
		phone.signIn(t, "bob")
		admin.signIn(t, "admin")
		admin.Open(t, "/admin/users")
		admin.Click(t, `#user-bob form[action$="/ban"] button`)
		if got := admin.Text(t, "#user-bob .status"); got != "banned" {
			t.Fatalf("bob's status shows %q", got)
		}
		admin.Screenshot(t, shots, "admin.png")

		phone.Open(t, "/")
		if got := phone.whoami(t); got != "" {
			t.Fatalf("banned bob's next page load is signed in as %q", got)
		}
		phone.Open(t, "/login")
		phone.Fill(t, "username", "bob")
		phone.Fill(t, "password", testPassword)
		if status := phone.Click(t, "#signin"); status != http.StatusForbidden {
			t.Errorf("a banned sign-in answered %d, want 403", status)
		}
		if got := phone.Text(t, ".alert"); !strings.Contains(got, "banned") {
			t.Errorf("the sign-in page says %q", got)
		}
	})

	step("a role change is seen on the very next request", func(t *testing.T) {
		laptop.Open(t, "/admin/users")
		if got := laptop.Text(t, "h1"); got == "Users" {
			t.Fatal("customer alice sees the admin page")
		}
		setRole := func(role string) {
			admin.Open(t, "/admin/users")
			admin.SetValue(t, "#user-alice select", role)
			admin.Click(t, `#user-alice form[action$="/role"] button`)
		}
		setRole("admin")
		laptop.Open(t, "/admin/users")
		if got := laptop.Text(t, "h1"); got != "Users" {
			t.Fatalf("alice, made admin, gets %q", got)
		}
		setRole("customer")
		if status := laptop.Open(t, "/admin/users"); status != http.StatusForbidden {
			t.Fatalf("alice, made customer again, gets %d", status)
		}
	})

	step("log out; the old cookie, replayed, is refused", func(t *testing.T) {
		laptop.Open(t, "/")
		old := laptop.sessionCookie(t).Value
		if old != aliceCookie {
			t.Error("the token changed without a sign-in")
		}
		laptop.Click(t, "#logout")
		laptop.WantPath(t, "/login?m=signed-out")
		if laptop.sessionCookie(t) != nil {
			t.Fatal("the cookie survived logout")
		}

		// Put the old cookie back into the browser...
		laptop.SetCookie(t, sessionhttp.DefaultCookieName, old)
		laptop.Open(t, "/cart")
		laptop.WantPath(t, "/login")
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
		laptop.OpenURL(t, local+"/login")
		laptop.Fill(t, "username", "admin")
		laptop.Fill(t, "password", testPassword)
		laptop.Click(t, "#signin")
		if got := laptop.whoami(t); got != "admin" {
			t.Fatalf("signed in on localhost as %q", got)
		}
	})
}

// chrome is one device of a shop user.
type chrome struct {
	*browsertest.Chrome
}

func (c chrome) signIn(t *testing.T, user string) {
	t.Helper()
	c.Open(t, "/login")
	c.Fill(t, "username", user)
	c.Fill(t, "password", testPassword)
	c.Click(t, "#signin")
	c.WantPath(t, "/")
	if got := c.whoami(t); got != user {
		t.Fatalf("signed in as %q, want %q", got, user)
	}
}

// whoami is the signed-in user the page's header names, or "".
func (c chrome) whoami(t *testing.T) string {
	t.Helper()
	return c.Text(t, "#user")
}

// sessionCookie returns the session cookie from the browser's cookie store,
// or nil.
func (c chrome) sessionCookie(t *testing.T) *network.Cookie {
	t.Helper()
	return c.Cookie(t, sessionhttp.DefaultCookieName)
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
	logs := &browsertest.LogBuffer{}
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
