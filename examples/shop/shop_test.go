package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/browsertest"
	"github.com/sessiond/sessiond/sessionhttp"
)

func TestCatalogueIsOpenToVisitors(t *testing.T) {
	shop := newTestShop(t)
	r := shop.browser(browsertest.UAFirefox).Get("/").WantStatus(http.StatusOK)
	r.WantBody("Sencha green tea", "€12.50", "Gooseneck kettle", `href="/login"`)
	r.WantNoBody("Log out")
	for header, want := range map[string]string{
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
		"Content-Type":           "text/html; charset=utf-8",
	} {
		if got := r.Header.Get(header); got != want {
			t.Errorf("%s: %q, want %q", header, got, want)
		}
	}
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q does not forbid scripts", csp)
	}
}

func TestLogin(t *testing.T) {
	shop := newTestShop(t)
	b := shop.browser(browsertest.UAFirefox)
	b.Get("/login").WantStatus(http.StatusOK).WantBody(`name="username"`, `name="password"`)

	b.login("alice", "wrong").WantStatus(http.StatusUnauthorized).WantBody("Wrong username or password", `value="alice"`)
	b.login("mallory", testPassword).WantStatus(http.StatusUnauthorized).WantBody("Wrong username or password")
	if b.Cookie != nil {
		t.Fatal("a failed sign-in set a session cookie")
	}

	r := b.login("alice", testPassword).WantRedirect("/")
	c := b.Cookie
	if c == nil {
		t.Fatal("no session cookie after sign-in")
	}
	if c.Name != "__Host-session" || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
		t.Errorf("cookie %s: want __Host-session; HttpOnly; Secure; SameSite=Lax; Path=/; no Domain", c)
	}
	if got := r.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("the sign-in response's Cache-Control is %q, want no-store", got)
	}
	home := b.Get("/").WantBody(`Signed in as </span><strong id="user">alice</strong>`, `action="/logout"`, ">Log out</button>")
	home.WantNoBody(`href="/admin/users"`) // alice is a customer
	if got := b.whoami(); got != "alice" {
		t.Errorf("whoami %q after signing in as alice", got)
	}
}

// Signing in again, as anyone, rotates the token: the session the browser
// carried is revoked, so a token planted before sign-in never becomes
// authenticated (session fixation), and a stolen pre-login one dies.
func TestLoginRevokesTheSessionTheBrowserCarried(t *testing.T) {
	shop := newTestShop(t)
	b := shop.signedIn("alice", browsertest.UAFirefox)
	before := *b.Cookie
	b.login("bob", testPassword).WantRedirect("/")
	if b.Cookie.Value == before.Value {
		t.Fatal("signing in kept the token")
	}
	if got := b.whoami(); got != "bob" {
		t.Fatalf("whoami %q, want bob", got)
	}
	replay := shop.browser(browsertest.UAFirefox)
	replay.Cookie = &before
	if got := replay.whoami(); got != "" {
		t.Fatalf("the pre-login cookie still signs in %q", got)
	}
	if n := len(mustList(t, shop, "alice")); n != 0 {
		t.Fatalf("alice has %d sessions left, want 0", n)
	}
}

func TestLogoutEndsTheSessionOnTheServer(t *testing.T) {
	shop := newTestShop(t)
	b := shop.signedIn("alice", browsertest.UAFirefox)
	stolen := *b.Cookie
	r := b.Post("/logout", nil).WantRedirect("/login")
	if b.Cookie != nil {
		t.Fatal("logout left the cookie in place")
	}
	if got := r.Header.Get("Location"); got != "/login?m=signed-out" {
		t.Errorf("logout redirects to %q", got)
	}
	b.Get(r.Header.Get("Location")).WantBody("You have signed out")

	replay := shop.browser(browsertest.UAFirefox)
	replay.Cookie = &stolen
	replay.Get("/cart").WantRedirect("/login")
	if replay.Cookie != nil {
		t.Error("a replayed dead cookie was not cleared")
	}
}

// Every page that needs a session sends browsers to /login and answers API
// clients 401 JSON; unsafe ones do the same, never acting anonymously.
func TestPagesNeedASession(t *testing.T) {
	shop := newTestShop(t)
	b := shop.browser(browsertest.UAFirefox)
	routes := []struct{ method, path string }{
		{"GET", "/cart"},
		{"POST", "/cart/add"},
		{"POST", "/checkout"},
		{"GET", "/account/sessions"},
		{"POST", "/account/sessions/" + strings.Repeat("ab", 32) + "/revoke"},
		{"POST", "/account/sessions/revoke-others"},
		{"POST", "/account/password"},
		{"GET", "/admin/users"},
		{"POST", "/admin/users/bob/ban"},
		{"POST", "/admin/users/bob/unban"},
		{"POST", "/admin/users/bob/role"},
	}
	for _, rt := range routes {
		var form url.Values
		if rt.method == "POST" {
			form = url.Values{}
		}
		b.Do(rt.method, rt.path, form).WantRedirect("/login")

		r := b.Do(rt.method, rt.path, form, "Accept", "application/json").WantStatus(http.StatusUnauthorized)
		if code := errorCode(t, r); code != sessiond.ErrInvalidSession.Code {
			t.Errorf("%s %s as JSON: error code %q, want %q", rt.method, rt.path, code, sessiond.ErrInvalidSession.Code)
		}
	}
}

func TestCartAndCheckout(t *testing.T) {
	shop := newTestShop(t)
	b := shop.signedIn("alice", browsertest.UAFirefox)
	b.Get("/cart").WantStatus(http.StatusOK).WantBody("Your cart is empty")

	add := func(product string) *browsertest.Response {
		return b.Post("/cart/add", url.Values{"product": {product}})
	}
	add("tea").WantRedirect("/?m=added&p=tea")
	add("tea").WantRedirect("/")
	add("mug").WantRedirect("/")
	b.Get("/?m=added&p=mug").WantBody("Added Stoneware mug to your cart.", `<span class="count">3</span>`)
	add("caviar").WantStatus(http.StatusBadRequest).WantBody("no such product")

	b.Get("/cart").WantBody(`id="qty-tea">2<`, `id="qty-mug">1<`, `id="total">€43.00<`)
	if got := string(shop.sessionOf(b).Data()); got != `{"cart":{"mug":1,"tea":2}}` {
		t.Errorf("session data %s", got)
	}

	order := b.Post("/checkout", nil).WantStatus(http.StatusOK)
	order.WantBody("Thank you", "Sencha green tea", "€43.00", `id="order"`)
	b.Get("/cart").WantBody("Your cart is empty")
	b.Post("/checkout", nil).WantRedirect("/cart") // nothing to order
}

// Forty requests adding to one cart at once: the compare-and-swap loop of
// Sessions.UpdateData makes every one count.
func TestConcurrentAddsLoseNothing(t *testing.T) {
	shop := newSQLiteShop(t)
	b := shop.signedIn("alice", browsertest.UAFirefox)
	const adds = 40
	var wg sync.WaitGroup
	statuses := make(chan int, adds)
	for range adds {
		wg.Go(func() {
			// A copy per goroutine: the helper records Set-Cookie.
			tab := *b.Client
			statuses <- tab.Post("/cart/add", url.Values{"product": {"beans"}}).StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusSeeOther {
			t.Fatalf("an add answered %d", s)
		}
	}
	b.Get("/cart").WantBody(`id="qty-beans">` + strconv.Itoa(adds) + `<`)
	if got := cartOf(shop.sessionOf(b).Data())["beans"]; got != adds {
		t.Fatalf("the cart holds %d, want %d", got, adds)
	}
}

func TestDevicesPage(t *testing.T) {
	shop := newTestShop(t)
	laptop := shop.signedIn("alice", browsertest.UAFirefox)
	phone := shop.signedIn("alice", browsertest.UAIPhone)
	desktop := shop.signedIn("alice", browsertest.UAChrome)
	bob := shop.signedIn("bob", browsertest.UAFirefox)

	page := laptop.Get("/account/sessions").WantStatus(http.StatusOK)
	page.WantBody("Firefox 128 on Linux", "Safari 17 on iPhone", "Chrome 126 on Windows", "This device", "127.0.0.1",
		"just now", "Log out all other devices (2)")
	page.WantNoBody(shop.sessionOf(laptop).ID + "/revoke") // no revoke button for the current one
	if strings.Count(page.Body, `/revoke"`) != 2 {
		t.Errorf("want 2 revoke buttons:\n%s", page.Body)
	}

	// Revoke one other device: its next request is anonymous.
	phoneID := shop.sessionOf(phone).ID
	laptop.Post("/account/sessions/"+phoneID+"/revoke", nil).WantRedirect("/account/sessions?m=revoked")
	phone.Get("/cart").WantRedirect("/login")

	// Someone else's session, an unknown id of the right shape, an id of
	// the old shape (hex SHA-256 of a token) or garbage: not found, and
	// bob's session lives on.
	for _, id := range []string{shop.sessionOf(bob).ID, strings.Repeat("A", 22), strings.Repeat("0", 64), "not-an-id"} {
		laptop.Post("/account/sessions/"+id+"/revoke", nil).WantStatus(http.StatusNotFound)
	}
	if got := bob.whoami(); got != "bob" {
		t.Fatalf("bob's session was revoked by alice (whoami %q)", got)
	}

	// Log out all other devices.
	laptop.Post("/account/sessions/revoke-others", nil).WantRedirect("/account/sessions?m=revoked-others&n=1")
	desktop.Get("/cart").WantRedirect("/login")
	laptop.Get("/account/sessions").WantBody("This device").WantNoBody("Log out all other devices")
	if n := len(mustList(t, shop, "alice")); n != 1 {
		t.Fatalf("alice has %d sessions, want 1", n)
	}

	// Revoking the current device is logging out.
	laptop.Post("/account/sessions/"+shop.sessionOf(laptop).ID+"/revoke", nil).WantRedirect("/login")
	if laptop.Cookie != nil {
		t.Fatal("revoking the current device kept its cookie")
	}
}

func TestPasswordChangeLogsOutOtherDevices(t *testing.T) {
	shop := newTestShop(t)
	laptop := shop.signedIn("alice", browsertest.UAFirefox)
	phone := shop.signedIn("alice", browsertest.UAIPhone)
	bob := shop.signedIn("bob", browsertest.UAChrome)
	change := func(current, next, confirm string) *browsertest.Response {
		return laptop.Post("/account/password", url.Values{"current": {current}, "new": {next}, "confirm": {confirm}})
	}
	change("wrong", "correct horse", "correct horse").WantStatus(http.StatusForbidden).WantBody("current password is wrong")
	change(testPassword, "short", "short").WantStatus(http.StatusBadRequest).WantBody("at least 8")
	change(testPassword, "correct horse", "correct hoarse").WantStatus(http.StatusBadRequest).WantBody("differ")
	if got := phone.whoami(); got != "alice" {
		t.Fatal("a refused change logged the phone out")
	}

	before := *laptop.Cookie
	id := shop.sessionOf(laptop).ID
	change(testPassword, "correct horse", "correct horse").WantRedirect("/account/sessions?m=password&n=1")
	if laptop.Cookie.Value == before.Value {
		t.Error("the password change did not rotate this device's token")
	}
	// Rotation keeps the session's id: the devices page still knows this
	// device, and offers no revoke button for it.
	if got := shop.sessionOf(laptop).ID; got != id {
		t.Errorf("the rotation changed the session id: %s -> %s", id, got)
	}
	page := laptop.Get("/account/sessions").WantBody("This device")
	page.WantNoBody(id + "/revoke")
	if n := strings.Count(page.Body, "This device"); n != 1 {
		t.Errorf("%d devices marked as this one", n)
	}
	if got := laptop.whoami(); got != "alice" {
		t.Fatalf("this device was logged out (whoami %q)", got)
	}
	phone.Get("/cart").WantRedirect("/login")
	replay := shop.browser(browsertest.UAFirefox)
	replay.Cookie = &before
	if got := replay.whoami(); got != "" {
		t.Fatal("the pre-change token still works")
	}
	if got := bob.whoami(); got != "bob" {
		t.Fatal("alice's password change logged bob out")
	}

	shop.browser(browsertest.UAFirefox).login("alice", testPassword).WantStatus(http.StatusUnauthorized)
	shop.browser(browsertest.UAFirefox).login("alice", "correct horse").WantRedirect("/")
}

func TestAdminPageIsForAdmins(t *testing.T) {
	shop := newTestShop(t)
	alice := shop.signedIn("alice", browsertest.UAFirefox)
	alice.Get("/admin/users").WantStatus(http.StatusForbidden).WantBody("for administrators")
	r := alice.Get("/admin/users", "Accept", "application/json").WantStatus(http.StatusForbidden)
	if code := errorCode(t, r); code != sessionhttp.CodeForbidden {
		t.Errorf("JSON 403 code %q", code)
	}
	alice.Post("/admin/users/bob/ban", nil).WantStatus(http.StatusForbidden)
	if got := shop.signedIn("bob", browsertest.UAFirefox).whoami(); got != "bob" {
		t.Fatal("a customer's ban went through")
	}

	admin := shop.signedIn("admin", browsertest.UAChrome)
	admin.Get("/").WantBody(`href="/admin/users"`)
	page := admin.Get("/admin/users").WantStatus(http.StatusOK)
	// alice: 1 session, bob: 1, admin: 1 (this one).
	for _, user := range []string{"alice", "bob", "admin"} {
		row := rowOf(t, page.Body, user)
		if !strings.Contains(row, `<td class="num">1</td>`) || !strings.Contains(row, "active") {
			t.Errorf("row of %s: %s", user, row)
		}
	}
	if row := rowOf(t, page.Body, "admin"); strings.Contains(row, "/ban") {
		t.Error("the admin page offers admins to ban themselves")
	}
	admin.Post("/admin/users/admin/ban", nil).WantStatus(http.StatusBadRequest)
	admin.Post("/admin/users/admin/role", url.Values{"role": {"customer"}}).WantStatus(http.StatusBadRequest)
	admin.Post("/admin/users/mallory/ban", nil).WantStatus(http.StatusNotFound)
	admin.Post("/admin/users/alice/role", url.Values{"role": {"root"}}).WantStatus(http.StatusBadRequest)
}

// A ban takes effect on the banned user's very next request, refuses
// sign-in, and survives a restart of the shop.
func TestBan(t *testing.T) {
	shop := newSQLiteShop(t)
	bobLaptop := shop.signedIn("bob", browsertest.UAFirefox)
	bobPhone := shop.signedIn("bob", browsertest.UAIPhone)
	admin := shop.signedIn("admin", browsertest.UAChrome)

	admin.Post("/admin/users/bob/ban", nil).WantRedirect("/admin/users?m=banned&n=2&u=bob")
	admin.Get("/admin/users?m=banned&n=2&u=bob").WantBody("bob is banned: 2 sessions revoked")
	if row := rowOf(t, admin.Get("/admin/users").Body, "bob"); !strings.Contains(row, "banned") || !strings.Contains(row, `<td class="num">0</td>`) {
		t.Errorf("bob's row after the ban: %s", row)
	}

	if got := bobLaptop.whoami(); got != "" {
		t.Fatalf("banned bob is still signed in as %q", got)
	}
	bobPhone.Get("/cart").WantRedirect("/login")
	bobLaptop.login("bob", "wrong").WantStatus(http.StatusUnauthorized) // no hint without the password
	bobLaptop.login("bob", testPassword).WantStatus(http.StatusForbidden).WantBody("This account is banned")
	if bobLaptop.Cookie != nil {
		t.Fatal("a banned user got a cookie")
	}

	// Restart: the records are seeded only when absent, so bob stays banned.
	restarted := startTestShop(t, shop.store)
	restarted.browser(browsertest.UAFirefox).login("bob", testPassword).WantStatus(http.StatusForbidden)

	admin.Post("/admin/users/bob/unban", nil).WantRedirect("/admin/users")
	bobLaptop.login("bob", testPassword).WantRedirect("/")
}

// Roles are read from the user record with every request: a change is seen
// by the user's very next request, without signing in again.
func TestRoleChangeIsSeenAtOnce(t *testing.T) {
	shop := newTestShop(t)
	alice := shop.signedIn("alice", browsertest.UAFirefox)
	admin := shop.signedIn("admin", browsertest.UAChrome)
	alice.Get("/admin/users").WantStatus(http.StatusForbidden)

	admin.Post("/admin/users/alice/role", url.Values{"role": {"admin"}}).WantRedirect("/admin/users?m=role&r=admin&u=alice")
	alice.Get("/admin/users").WantStatus(http.StatusOK).WantBody(`id="user-bob"`)
	alice.Get("/").WantBody(`href="/admin/users"`)

	admin.Post("/admin/users/alice/role", url.Values{"role": {"customer"}}).WantRedirect("/admin/users")
	alice.Get("/admin/users").WantStatus(http.StatusForbidden)
}

// Unsafe requests a browser sends cross-site are refused before any
// handler runs, including sign-in (login CSRF).
func TestCrossSitePostsAreRefused(t *testing.T) {
	shop := newTestShop(t)
	alice := shop.signedIn("alice", browsertest.UAFirefox)
	crossSite := [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Origin", "https://evil.example"}, // a browser without Fetch metadata
	}
	for _, h := range crossSite {
		alice.Post("/cart/add", url.Values{"product": {"tea"}}, h...).WantStatus(http.StatusForbidden)
		alice.Post("/account/sessions/revoke-others", nil, h...).WantStatus(http.StatusForbidden)
		shop.browser(browsertest.UAFirefox).Post("/login", url.Values{"username": {"alice"}, "password": {testPassword}}, h...).WantStatus(http.StatusForbidden)
	}
	alice.Get("/cart").WantBody("Your cart is empty")
	alice.Post("/cart/add", url.Values{"product": {"tea"}}, "Sec-Fetch-Site", "same-origin", "Origin", shop.srv.URL).WantRedirect("/")
}

func TestSignInIsThrottled(t *testing.T) {
	shop := newTestShop(t)
	b := shop.browser(browsertest.UAFirefox)
	for range attemptBurst {
		b.login("bob", "guess").WantStatus(http.StatusUnauthorized)
	}
	r := b.login("bob", testPassword).WantStatus(http.StatusTooManyRequests).WantBody("Too many failed attempts")
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	b.login("alice", testPassword).WantRedirect("/") // another account is not locked
}

func TestBadRequests(t *testing.T) {
	shop := newTestShop(t)
	alice := shop.signedIn("alice", browsertest.UAFirefox)
	huge := url.Values{"product": {strings.Repeat("x", maxBodyBytes)}}
	alice.Post("/cart/add", huge).WantStatus(http.StatusRequestEntityTooLarge)
	alice.Post("/login", huge).WantStatus(http.StatusRequestEntityTooLarge)
	alice.Get("/nowhere").WantStatus(http.StatusNotFound).WantBody("no such page")
	alice.Do("DELETE", "/cart", nil).WantStatus(http.StatusMethodNotAllowed)
	css := alice.Get("/static/style.css").WantStatus(http.StatusOK)
	if ct := css.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("stylesheet Content-Type %q", ct)
	}
}

// A store that cannot answer fails closed: 503, not an anonymous page, and
// certainly not a page as if signed in.
func TestStoreOutageFailsClosed(t *testing.T) {
	shop := newSQLiteShop(t)
	alice := shop.signedIn("alice", browsertest.UAFirefox)
	shop.store.Close()
	alice.Get("/cart").WantStatus(http.StatusServiceUnavailable)
	shop.browser(browsertest.UAFirefox).login("bob", testPassword).WantStatus(http.StatusServiceUnavailable)
}

func TestPasswordHashes(t *testing.T) {
	a, b := hashPassword("demo"), hashPassword("demo")
	if string(a.salt) == string(b.salt) || string(a.key) == string(b.key) {
		t.Fatal("two hashes of one password share a salt or a key")
	}
	if len(a.salt) != saltLen || len(a.key) != argonKeyLen || a.memory != 19*1024 || a.time != 2 || a.threads != 1 {
		t.Fatalf("parameters %+v, want OWASP's argon2id m=19 MiB, t=2, p=1", a)
	}
	if !a.matches("demo") || a.matches("Demo") || a.matches("") {
		t.Fatal("matches is wrong")
	}
}

func mustList(t *testing.T, shop *testShop, user string) []sessiond.Session {
	t.Helper()
	list, err := shop.app.manager.ListUserSessions(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func errorCode(t *testing.T, r *browsertest.Response) string {
	t.Helper()
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
		t.Fatalf("%s %s: not a JSON error: %v\n%s", r.Request.Method, r.Request.URL.Path, err, r.Body)
	}
	return body.Error.Code
}

// rowOf returns the admin page's table row of a user.
func rowOf(t *testing.T, page, user string) string {
	t.Helper()
	_, row, ok := strings.Cut(page, `<tr id="user-`+user+`">`)
	if !ok {
		t.Fatalf("no row for %s:\n%s", user, page)
	}
	row, _, _ = strings.Cut(row, "</tr>")
	return row
}
