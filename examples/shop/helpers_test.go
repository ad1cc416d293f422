package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessionhttp"
	"github.com/sessiond/sessiond/stores"
)

const (
	testSecret   = "shop test secret: at least 32 bytes long"
	testPassword = "demo-pass"
)

// testShop is the shop served by a real HTTP server.
type testShop struct {
	t     *testing.T
	app   *app
	store sessiond.Store
	srv   *httptest.Server
}

// newTestShop runs the shop over the in-memory store: the pure-Go SQLite
// engine is slow under the race detector, and these tests are about the
// shop. The tests of persistence, contention and outages use newSQLiteShop.
func newTestShop(t *testing.T) *testShop {
	t.Helper()
	return startTestShop(t, openTestStore(t, "memory://"))
}

// newSQLiteShop runs the shop over a real SQLite file, its default store.
func newSQLiteShop(t *testing.T) *testShop {
	t.Helper()
	return startTestShop(t, openTestStore(t, "sqlite://"+filepath.Join(t.TempDir(), "shop.db")))
}

func openTestStore(t *testing.T, url string) sessiond.Store {
	t.Helper()
	store, err := stores.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// startTestShop builds the shop over store; several shops may share one
// store, like a restart or a second node.
func startTestShop(t *testing.T, store sessiond.Store) *testShop {
	t.Helper()
	a, err := newApp(context.Background(), config{
		Store:        store,
		Secrets:      [][]byte{[]byte(testSecret)},
		DemoPassword: testPassword,
		Log:          slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return &testShop{t: t, app: a, store: store, srv: srv}
}

// browser is one device: it keeps the session cookie the way a browser
// would (set by Set-Cookie, dropped when the server expires it) and sends
// what a browser sends: Accept: text/html, its own User-Agent.
type browser struct {
	shop   *testShop
	ua     string
	cookie *http.Cookie
}

func (s *testShop) browser(ua string) *browser { return &browser{shop: s, ua: ua} }

// signedIn returns a browser signed in as user.
func (s *testShop) signedIn(user, ua string) *browser {
	s.t.Helper()
	b := s.browser(ua)
	b.login(user, testPassword).wantRedirect("/")
	return b
}

type response struct {
	t *testing.T
	*http.Response
	body string
}

// do sends a request; headers are name, value pairs that replace the
// defaults.
func (b *browser) do(method, path string, form url.Values, headers ...string) *response {
	t := b.shop.t
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.shop.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
	req.Header.Set("User-Agent", b.ua)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if b.cookie != nil {
		req.AddCookie(&http.Cookie{Name: b.cookie.Name, Value: b.cookie.Value})
	}
	client := *b.shop.srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range resp.Cookies() {
		if c.Name == sessionhttp.DefaultCookieName {
			if c.MaxAge < 0 {
				b.cookie = nil
			} else {
				b.cookie = c
			}
		}
	}
	return &response{t: t, Response: resp, body: string(raw)}
}

func (b *browser) get(path string, headers ...string) *response {
	b.shop.t.Helper()
	return b.do("GET", path, nil, headers...)
}

func (b *browser) post(path string, form url.Values, headers ...string) *response {
	b.shop.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	return b.do("POST", path, form, headers...)
}

func (b *browser) login(user, password string) *response {
	b.shop.t.Helper()
	return b.post("/login", url.Values{"username": {user}, "password": {password}})
}

// whoami is the user the header says is signed in, or "" for anonymous.
func (b *browser) whoami() string {
	b.shop.t.Helper()
	r := b.get("/").wantStatus(http.StatusOK)
	_, after, ok := strings.Cut(r.body, `<strong id="user">`)
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(after, "<")
	return name
}

func (r *response) wantStatus(code int) *response {
	r.t.Helper()
	if r.StatusCode != code {
		r.t.Fatalf("%s %s: status %d, want %d; body:\n%s", r.Request.Method, r.Request.URL.Path, r.StatusCode, code, r.body)
	}
	return r
}

// wantRedirect checks a 303 to a location (its path, and query if given).
func (r *response) wantRedirect(location string) *response {
	r.t.Helper()
	r.wantStatus(http.StatusSeeOther)
	got := r.Header.Get("Location")
	if !strings.Contains(location, "?") {
		got, _, _ = strings.Cut(got, "?")
	}
	if got != location {
		r.t.Fatalf("%s %s: redirect to %q, want %q", r.Request.Method, r.Request.URL.Path, r.Header.Get("Location"), location)
	}
	return r
}

func (r *response) wantBody(substrings ...string) *response {
	r.t.Helper()
	for _, s := range substrings {
		if !strings.Contains(r.body, s) {
			r.t.Fatalf("%s %s: body lacks %q:\n%s", r.Request.Method, r.Request.URL.Path, s, r.body)
		}
	}
	return r
}

func (r *response) wantNoBody(substrings ...string) *response {
	r.t.Helper()
	for _, s := range substrings {
		if strings.Contains(r.body, s) {
			r.t.Fatalf("%s %s: body has %q:\n%s", r.Request.Method, r.Request.URL.Path, s, r.body)
		}
	}
	return r
}

// sessionOf returns the live session a browser's cookie points at.
func (s *testShop) sessionOf(b *browser) *sessiond.Session {
	s.t.Helper()
	if b.cookie == nil {
		s.t.Fatal("the browser has no session cookie")
	}
	sess, _, err := s.app.manager.Validate(context.Background(), b.cookie.Value)
	if err != nil {
		s.t.Fatalf("the browser's session: %v", err)
	}
	return sess
}

const (
	uaFirefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	uaIPhone  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	uaChrome  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)
