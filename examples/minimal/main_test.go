package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/stores/sqlite"
)

// The example's handler, on the example's store, through a whole visit:
// refused, signed in, the protected page, signed out, the old cookie dead.
func TestMinimal(t *testing.T) {
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "sessions.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	keys, err := sessiond.NewKeyring([]byte("minimal example test key, 32 bytes+"))
	if err != nil {
		t.Fatal(err)
	}
	h := newHandler(sessiond.NewManager(store, keys, sessiond.Config{}))
	do := func(method, target string, cookie *http.Cookie, form url.Values, headers ...string) *http.Response {
		t.Helper()
		r := httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
		if form != nil {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if cookie != nil {
			r.AddCookie(cookie)
		}
		for i := 0; i+1 < len(headers); i += 2 {
			r.Header.Set(headers[i], headers[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Result()
	}
	want := func(resp *http.Response, status int, body string) {
		t.Helper()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != status || !strings.Contains(string(b), body) {
			t.Fatalf("%s %s: %d %q, want %d and %q", resp.Request.Method, resp.Request.URL, resp.StatusCode, b, status, body)
		}
	}

	want(do("GET", "/", nil, nil), http.StatusOK, `action="/login"`)
	want(do("GET", "/account", nil, nil, "Accept", "text/html"), http.StatusSeeOther, "")
	want(do("GET", "/account", nil, nil), http.StatusUnauthorized, "session_invalid")
	want(do("POST", "/login", nil, url.Values{"user": {""}}), http.StatusBadRequest, "invalid_request")
	want(do("POST", "/login", nil, url.Values{"user": {"alice"}}, "Sec-Fetch-Site", "cross-site"), http.StatusForbidden, "forbidden")

	login := do("POST", "/login", nil, url.Values{"user": {"<b>alice</b>"}})
	want(login, http.StatusSeeOther, "")
	if loc := login.Header.Get("Location"); loc != "/account" {
		t.Fatalf("sign-in redirects to %q", loc)
	}
	cookie := login.Cookies()[0]
	if !cookie.HttpOnly || !cookie.Secure || !strings.HasPrefix(cookie.Name, "__Host-") {
		t.Errorf("cookie %v", cookie)
	}
	want(do("GET", "/account", cookie, nil), http.StatusOK, "Hello, &lt;b&gt;alice&lt;/b&gt;.")

	logout := do("POST", "/logout", cookie, url.Values{})
	want(logout, http.StatusSeeOther, "")
	if c := logout.Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
		t.Errorf("logout did not clear the cookie: %v", c)
	}
	want(do("GET", "/account", cookie, nil), http.StatusUnauthorized, "session_invalid")
}

// The README shows this program as the library's example: keep the two the
// same, so that what a newcomer copies from the README compiles and runs.
func TestREADMEShowsThisProgram(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	program, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```go\n"+string(program)+"```\n") {
		t.Fatal("README.md does not show examples/minimal/main.go as it is: copy the file into its ```go block")
	}
}
