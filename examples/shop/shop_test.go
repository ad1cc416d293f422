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
	"github.com/sessiond/sessiond/sessionhttp"
)

func TestCatalogueIsOpenToVisitors(t *testing.T) {
	shop := newTestShop(t)
	r := shop.browser(uaFirefox).get("/").wantStatus(http.StatusOK)
	r.wantBody("Sencha green tea", "€12.50", "Gooseneck kettle", `href="/login"`)
	r.wantNoBody("Log out")
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
	b := shop.browser(uaFirefox)
	b.get("/login").wantStatus(http.StatusOK).wantBody(`name="username"`, `name="password"`)

	b.login("alice", "wrong").wantStatus(http.StatusUnauthorized).wantBody("Wrong username or password", `value="alice"`)
	b.login("mallory", testPassword).wantStatus(http.StatusUnauthorized).wantBody("Wrong username or password")
	if b.cookie != nil {
		t.Fatal("a failed sign-in set a session cookie")
	}

	r := b.login("alice", testPassword).wantRedirect("/")
	c := b.cookie
	if c == nil {
		t.Fatal("no session cookie after sign-in")
	}
	if c.Name != "__Host-session" || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
		t.Errorf("cookie %s: want __Host-session; HttpOnly; Secure; SameSite=Lax; Path=/; no Domain", c)
	}
	if got := r.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("the sign-in response's Cache-Control is %q, want no-store", got)
	}
	home := b.get("/").wantBody(`Signed in as </span><strong id="user">alice</strong>`, `action="/logout"`, ">Log out</button>")
	home.wantNoBody(`href="/admin/users"`) // alice is a customer
	if got := b.whoami(); got != "alice" {
		t.Errorf("whoami %q after signing in as alice", got)
	}
}

// Signing in again, as anyone, rotates the token: the session the browser
// carried is revoked, so a token planted before sign-in never becomes
// authenticated (session fixation), and a stolen pre-login one dies.
func TestLoginRevokesTheSessionTheBrowserCarried(t *testing.T) {
	shop := newTestShop(t)
	b := shop.signedIn("alice", uaFirefox)
	before := *b.cookie
	b.login("bob", testPassword).wantRedirect("/")
	if b.cookie.Value == before.Value {
		t.Fatal("signing in kept the token")
	}
	if got := b.whoami(); got != "bob" {
		t.Fatalf("whoami %q, want bob", got)
	}
	replay := shop.browser(uaFirefox)
	replay.cookie = &before
	if got := replay.whoami(); got != "" {
		t.Fatalf("the pre-login cookie still signs in %q", got)
	}
	if n := len(mustList(t, shop, "alice")); n != 0 {
		t.Fatalf("alice has %d sessions left, want 0", n)
	}
}

func TestLogoutEndsTheSessionOnTheServer(t *testing.T) {
	shop := newTestShop(t)
	b := shop.signedIn("alice", uaFirefox)
	stolen := *b.cookie
	r := b.post("/logout", nil).wantRedirect("/login")
	if b.cookie != nil {
		t.Fatal("logout left the cookie in place")
	}
	if got := r.Header.Get("Location"); got != "/login?m=signed-out" {
		t.Errorf("logout redirects to %q", got)
	}
	b.get(r.Header.Get("Location")).wantBody("You have signed out")

	replay := shop.browser(uaFirefox)
	replay.cookie = &stolen
	replay.get("/cart").wantRedirect("/login")
	if replay.cookie != nil {
		t.Error("a replayed dead cookie was not cleared")
	}
}

// Every page that needs a session sends browsers to /login and answers API
// clients 401 JSON; unsafe ones do the same, never acting anonymously.
func TestPagesNeedASession(t *testing.T) {
	shop := newTestShop(t)
	b := shop.browser(uaFirefox)
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
		b.do(rt.method, rt.path, form).wantRedirect("/login")

		r := b.do(rt.method, rt.path, form, "Accept", "application/json").wantStatus(http.StatusUnauthorized)
		if code := errorCode(t, r); code != sessiond.CodeInvalidSession {
			t.Errorf("%s %s as JSON: error code %q, want %q", rt.method, rt.path, code, sessiond.CodeInvalidSession)
		}
	}
}

func TestCartAndCheckout(t *testing.T) {
	shop := newTestShop(t)
	b := shop.signedIn("alice", uaFirefox)
	b.get("/cart").wantStatus(http.StatusOK).wantBody("Your cart is empty")

	add := func(product string) *response {
		return b.post("/cart/add", url.Values{"product": {product}})
	}
	add("tea").wantRedirect("/?m=added&p=tea")
	add("tea").wantRedirect("/")
	add("mug").wantRedirect("/")
	b.get("/?m=added&p=mug").wantBody("Added Stoneware mug to your cart.", `<span class="count">3</span>`)
	add("caviar").wantStatus(http.StatusBadRequest).wantBody("no such product")

	b.get("/cart").wantBody(`id="qty-tea">2<`, `id="qty-mug">1<`, `id="total">€43.00<`)
	if got := string(shop.sessionOf(b).Data); got != `{"cart":{"mug":1,"tea":2}}` {
		t.Errorf("session data %s", got)
	}

	order := b.post("/checkout", nil).wantStatus(http.StatusOK)
	order.wantBody("Thank you", "Sencha green tea", "€43.00", `id="order"`)
	b.get("/cart").wantBody("Your cart is empty")
	b.post("/checkout", nil).wantRedirect("/cart") // nothing to order
}

// Forty requests adding to one cart at once: the compare-and-swap loop of
// Sessions.Update makes every one count.
func TestConcurrentAddsLoseNothing(t *testing.T) {
	shop := newSQLiteShop(t)
	b := shop.signedIn("alice", uaFirefox)
	const adds = 40
	var wg sync.WaitGroup
	statuses := make(chan int, adds)
	for range adds {
		wg.Go(func() {
			// A copy per goroutine: the helper records Set-Cookie.
			tab := *b
			statuses <- tab.post("/cart/add", url.Values{"product": {"beans"}}).StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusSeeOther {
			t.Fatalf("an add answered %d", s)
		}
	}
	b.get("/cart").wantBody(`id="qty-beans">` + strconv.Itoa(adds) + `<`)
	if got := cartOf(shop.sessionOf(b).Data)["beans"]; got != adds {
		t.Fatalf("the cart holds %d, want %d", got, adds)
	}
}

func TestDevicesPage(t *testing.T) {
	shop := newTestShop(t)
	laptop := shop.signedIn("alice", uaFirefox)
	phone := shop.signedIn("alice", uaIPhone)
	desktop := shop.signedIn("alice", uaChrome)
	bob := shop.signedIn("bob", uaFirefox)

	page := laptop.get("/account/sessions").wantStatus(http.StatusOK)
	page.wantBody("Firefox 128 on Linux", "Safari 17 on iPhone", "Chrome 126 on Windows", "This device", "127.0.0.1",
		"just now", "Log out all other devices (2)")
	page.wantNoBody(shop.sessionOf(laptop).ID + "/revoke") // no revoke button for the current one
	if strings.Count(page.body, `/revoke"`) != 2 {
		t.Errorf("want 2 revoke buttons:\n%s", page.body)
	}

	// Revoke one other device: its next request is anonymous.
	phoneID := shop.sessionOf(phone).ID
	laptop.post("/account/sessions/"+phoneID+"/revoke", nil).wantRedirect("/account/sessions?m=revoked")
	phone.get("/cart").wantRedirect("/login")

	// Someone else's session, an unknown id or garbage: not found, and
	// bob's session lives on.
	for _, id := range []string{shop.sessionOf(bob).ID, strings.Repeat("0", 64), "not-an-id"} {
		laptop.post("/account/sessions/"+id+"/revoke", nil).wantStatus(http.StatusNotFound)
	}
	if got := bob.whoami(); got != "bob" {
		t.Fatalf("bob's session was revoked by alice (whoami %q)", got)
	}

	// Log out all other devices.
	laptop.post("/account/sessions/revoke-others", nil).wantRedirect("/account/sessions?m=revoked-others&n=1")
	desktop.get("/cart").wantRedirect("/login")
	laptop.get("/account/sessions").wantBody("This device").wantNoBody("Log out all other devices")
	if n := len(mustList(t, shop, "alice")); n != 1 {
		t.Fatalf("alice has %d sessions, want 1", n)
	}

	// Revoking the current device is logging out.
	laptop.post("/account/sessions/"+shop.sessionOf(laptop).ID+"/revoke", nil).wantRedirect("/login")
	if laptop.cookie != nil {
		t.Fatal("revoking the current device kept its cookie")
	}
}

func TestPasswordChangeLogsOutOtherDevices(t *testing.T) {
	shop := newTestShop(t)
	laptop := shop.signedIn("alice", uaFirefox)
	phone := shop.signedIn("alice", uaIPhone)
	bob := shop.signedIn("bob", uaChrome)
	change := func(current, next, confirm string) *response {
		return laptop.post("/account/password", url.Values{"current": {current}, "new": {next}, "confirm": {confirm}})
	}
	change("wrong", "correct horse", "correct horse").wantStatus(http.StatusForbidden).wantBody("current password is wrong")
	change(testPassword, "short", "short").wantStatus(http.StatusBadRequest).wantBody("at least 8")
	change(testPassword, "correct horse", "correct hoarse").wantStatus(http.StatusBadRequest).wantBody("differ")
	if got := phone.whoami(); got != "alice" {
		t.Fatal("a refused change logged the phone out")
	}

	before := *laptop.cookie
	change(testPassword, "correct horse", "correct horse").wantRedirect("/account/sessions?m=password&n=1")
	if laptop.cookie.Value == before.Value {
		t.Error("the password change did not rotate this device's token")
	}
	if got := laptop.whoami(); got != "alice" {
		t.Fatalf("this device was logged out (whoami %q)", got)
	}
	phone.get("/cart").wantRedirect("/login")
	replay := shop.browser(uaFirefox)
	replay.cookie = &before
	if got := replay.whoami(); got != "" {
		t.Fatal("the pre-change token still works")
	}
	if got := bob.whoami(); got != "bob" {
		t.Fatal("alice's password change logged bob out")
	}

	shop.browser(uaFirefox).login("alice", testPassword).wantStatus(http.StatusUnauthorized)
	shop.browser(uaFirefox).login("alice", "correct horse").wantRedirect("/")
}

func TestAdminPageIsForAdmins(t *testing.T) {
	shop := newTestShop(t)
	alice := shop.signedIn("alice", uaFirefox)
	alice.get("/admin/users").wantStatus(http.StatusForbidden).wantBody("for administrators")
	r := alice.get("/admin/users", "Accept", "application/json").wantStatus(http.StatusForbidden)
	if code := errorCode(t, r); code != sessionhttp.CodeForbidden {
		t.Errorf("JSON 403 code %q", code)
	}
	alice.post("/admin/users/bob/ban", nil).wantStatus(http.StatusForbidden)
	if got := shop.signedIn("bob", uaFirefox).whoami(); got != "bob" {
		t.Fatal("a customer's ban went through")
	}

	admin := shop.signedIn("admin", uaChrome)
	admin.get("/").wantBody(`href="/admin/users"`)
	page := admin.get("/admin/users").wantStatus(http.StatusOK)
	// alice: 1 session, bob: 1, admin: 1 (this one).
	for _, user := range []string{"alice", "bob", "admin"} {
		row := rowOf(t, page.body, user)
		if !strings.Contains(row, `<td class="num">1</td>`) || !strings.Contains(row, "active") {
			t.Errorf("row of %s: %s", user, row)
		}
	}
	if row := rowOf(t, page.body, "admin"); strings.Contains(row, "/ban") {
		t.Error("the admin page offers admins to ban themselves")
	}
	admin.post("/admin/users/admin/ban", nil).wantStatus(http.StatusBadRequest)
	admin.post("/admin/users/admin/role", url.Values{"role": {"customer"}}).wantStatus(http.StatusBadRequest)
	admin.post("/admin/users/mallory/ban", nil).wantStatus(http.StatusNotFound)
	admin.post("/admin/users/alice/role", url.Values{"role": {"root"}}).wantStatus(http.StatusBadRequest)
}

// A ban takes effect on the banned user's very next request, refuses
// sign-in, and survives a restart of the shop.
func TestBan(t *testing.T) {
	shop := newSQLiteShop(t)
	bobLaptop := shop.signedIn("bob", uaFirefox)
	bobPhone := shop.signedIn("bob", uaIPhone)
	admin := shop.signedIn("admin", uaChrome)

	admin.post("/admin/users/bob/ban", nil).wantRedirect("/admin/users?m=banned&n=2&u=bob")
	admin.get("/admin/users?m=banned&n=2&u=bob").wantBody("bob is banned: 2 sessions revoked")
	if row := rowOf(t, admin.get("/admin/users").body, "bob"); !strings.Contains(row, "banned") || !strings.Contains(row, `<td class="num">0</td>`) {
		t.Errorf("bob's row after the ban: %s", row)
	}

	if got := bobLaptop.whoami(); got != "" {
		t.Fatalf("banned bob is still signed in as %q", got)
	}
	bobPhone.get("/cart").wantRedirect("/login")
	bobLaptop.login("bob", "wrong").wantStatus(http.StatusUnauthorized) // no hint without the password
	bobLaptop.login("bob", testPassword).wantStatus(http.StatusForbidden).wantBody("This account is banned")
	if bobLaptop.cookie != nil {
		t.Fatal("a banned user got a cookie")
	}

	// Restart: the records are seeded only when absent, so bob stays banned.
	restarted := startTestShop(t, shop.store)
	restarted.browser(uaFirefox).login("bob", testPassword).wantStatus(http.StatusForbidden)

	admin.post("/admin/users/bob/unban", nil).wantRedirect("/admin/users")
	bobLaptop.login("bob", testPassword).wantRedirect("/")
}

// Roles are read from the user record with every request: a change is seen
// by the user's very next request, without signing in again.
func TestRoleChangeIsSeenAtOnce(t *testing.T) {
	shop := newTestShop(t)
	alice := shop.signedIn("alice", uaFirefox)
	admin := shop.signedIn("admin", uaChrome)
	alice.get("/admin/users").wantStatus(http.StatusForbidden)

	admin.post("/admin/users/alice/role", url.Values{"role": {"admin"}}).wantRedirect("/admin/users?m=role&r=admin&u=alice")
	alice.get("/admin/users").wantStatus(http.StatusOK).wantBody(`id="user-bob"`)
	alice.get("/").wantBody(`href="/admin/users"`)

	admin.post("/admin/users/alice/role", url.Values{"role": {"customer"}}).wantRedirect("/admin/users")
	alice.get("/admin/users").wantStatus(http.StatusForbidden)
}

// Unsafe requests a browser sends cross-site are refused before any
// handler runs, including sign-in (login CSRF).
func TestCrossSitePostsAreRefused(t *testing.T) {
	shop := newTestShop(t)
	alice := shop.signedIn("alice", uaFirefox)
	crossSite := [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Origin", "https://evil.example"}, // a browser without Fetch metadata
	}
	for _, h := range crossSite {
		alice.post("/cart/add", url.Values{"product": {"tea"}}, h...).wantStatus(http.StatusForbidden)
		alice.post("/account/sessions/revoke-others", nil, h...).wantStatus(http.StatusForbidden)
		shop.browser(uaFirefox).post("/login", url.Values{"username": {"alice"}, "password": {testPassword}}, h...).wantStatus(http.StatusForbidden)
	}
	alice.get("/cart").wantBody("Your cart is empty")
	alice.post("/cart/add", url.Values{"product": {"tea"}}, "Sec-Fetch-Site", "same-origin", "Origin", shop.srv.URL).wantRedirect("/")
}

func TestSignInIsThrottled(t *testing.T) {
	shop := newTestShop(t)
	b := shop.browser(uaFirefox)
	for range attemptBurst {
		b.login("bob", "guess").wantStatus(http.StatusUnauthorized)
	}
	r := b.login("bob", testPassword).wantStatus(http.StatusTooManyRequests).wantBody("Too many failed attempts")
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	b.login("alice", testPassword).wantRedirect("/") // another account is not locked
}

func TestBadRequests(t *testing.T) {
	shop := newTestShop(t)
	alice := shop.signedIn("alice", uaFirefox)
	huge := url.Values{"product": {strings.Repeat("x", maxBodyBytes)}}
	alice.post("/cart/add", huge).wantStatus(http.StatusRequestEntityTooLarge)
	alice.post("/login", huge).wantStatus(http.StatusRequestEntityTooLarge)
	alice.get("/nowhere").wantStatus(http.StatusNotFound).wantBody("no such page")
	alice.do("DELETE", "/cart", nil).wantStatus(http.StatusMethodNotAllowed)
	css := alice.get("/static/style.css").wantStatus(http.StatusOK)
	if ct := css.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("stylesheet Content-Type %q", ct)
	}
}

// A store that cannot answer fails closed: 503, not an anonymous page, and
// certainly not a page as if signed in.
func TestStoreOutageFailsClosed(t *testing.T) {
	shop := newSQLiteShop(t)
	alice := shop.signedIn("alice", uaFirefox)
	shop.store.Close()
	alice.get("/cart").wantStatus(http.StatusServiceUnavailable)
	shop.browser(uaFirefox).login("bob", testPassword).wantStatus(http.StatusServiceUnavailable)
}

func TestDeviceName(t *testing.T) {
	for ua, want := range map[string]string{
		uaFirefox: "Firefox 128 on Linux",
		uaIPhone:  "Safari 17 on iPhone",
		uaChrome:  "Chrome 126 on Windows",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0": "Edge 126 on Windows",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36":         "Chrome 126 on Android",
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.8078.79 Safari/537.36":             "Headless Chrome 156 on Linux",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15":            "Safari 17 on macOS",
		"curl/8.5.0": "curl 8",
		"":           "Unknown browser",
	} {
		if got := deviceName(ua); got != want {
			t.Errorf("deviceName(%q) = %q, want %q", ua, got, want)
		}
	}
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

func mustList(t *testing.T, shop *testShop, user string) []*sessiond.Session {
	t.Helper()
	list, err := shop.app.manager.ListUser(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func errorCode(t *testing.T, r *response) string {
	t.Helper()
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil {
		t.Fatalf("%s %s: not a JSON error: %v\n%s", r.Request.Method, r.Request.URL.Path, err, r.body)
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
