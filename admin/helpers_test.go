package admin

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memory"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/sqlite"
)

const testSecret = "admin test secret: at least 32 bytes long"

// testStore is what the console runs on: a session store that also keeps
// the API keys, like every store the server opens.
type testStore interface {
	sessiond.Store
	sessiond.APIKeyStore
}

// testConsole is the console served by a real HTTP server, over a real
// store, with one API key to sign in with.
type testConsole struct {
	t      *testing.T
	store  testStore
	m      *sessiond.Manager
	srv    *httptest.Server
	key    string // the API key, as `sessiond apikey create` prints it
	keyRec *sessiond.APIKey
	logs   *lockedBuffer
	// skew moves the manager's clock forward.
	skew  atomic.Int64
	stats atomic.Pointer[Stats]
}

// stores are the engines every flow runs on: the in-memory reference store
// and the server's default, an SQLite file.
var stores = []struct {
	name string
	open func(t *testing.T) testStore
}{
	{"memory", func(t *testing.T) testStore { return memory.New() }},
	{"sqlite", openSQLite},
}

func openSQLite(t *testing.T) testStore {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "sessiond.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// forEachStore runs test once per store.
func forEachStore(t *testing.T, test func(t *testing.T, c *testConsole)) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) { test(t, newTestConsole(t, s.open(t))) })
	}
}

func newMemoryConsole(t *testing.T) *testConsole {
	t.Helper()
	return newTestConsole(t, memory.New())
}

func newTestConsole(t *testing.T, store testStore) *testConsole {
	t.Helper()
	keys, err := sessiond.NewKeyring([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	c := &testConsole{t: t, store: store, logs: &lockedBuffer{}}
	// A long idle timeout, so that moving the clock tests the console's own
	// time limit, not the manager's idle expiry.
	c.m = sessiond.NewManager(store, keys, sessiond.Config{
		IdleTimeout: 24 * time.Hour,
		Now:         func() time.Time { return time.Now().Add(time.Duration(c.skew.Load())) },
	})
	c.key, c.keyRec = c.newKey("ops laptop")
	h := New(Config{
		Manager: c.m,
		APIKeys: store,
		Stats: func() Stats {
			if s := c.stats.Load(); s != nil {
				return *s
			}
			return Stats{ActiveSessions: -1, CacheHitRatio: -1}
		},
		Logger: slog.New(slog.NewTextHandler(c.logs, nil)),
	})
	c.srv = httptest.NewServer(h)
	t.Cleanup(c.srv.Close)
	t.Cleanup(func() {
		// Tokens and API keys are never logged.
		logs := c.logs.String()
		if strings.Contains(logs, c.key) || strings.Contains(logs, sessiond.TokenPrefix) {
			t.Errorf("a secret reached the log:\n%s", logs)
		}
	})
	return c
}

// newKey makes an API key the way `sessiond apikey create` does.
func (c *testConsole) newKey(name string) (string, *sessiond.APIKey) {
	c.t.Helper()
	key, rec := server.NewAPIKey(name, time.Now())
	if err := c.store.CreateAPIKey(context.Background(), rec); err != nil {
		c.t.Fatal(err)
	}
	return key, rec
}

// newSession signs user in from a device, as an application would, and
// returns the token.
func (c *testConsole) newSession(user, ip, ua string) string {
	c.t.Helper()
	token, _, err := c.m.Create(context.Background(), sessiond.NewSession{UserID: user, Client: sessiond.Client{IP: ip, UserAgent: ua}})
	if err != nil {
		c.t.Fatal(err)
	}
	return token
}

// valid reports whether an application's token still validates, and with
// which user record.
func (c *testConsole) valid(token string) (*sessiond.User, bool) {
	c.t.Helper()
	_, u, err := c.m.Validate(context.Background(), token)
	if err != nil && !errors.Is(err, sessiond.ErrInvalidSession) {
		c.t.Fatal(err)
	}
	return u, err == nil
}

// browser keeps the admin cookie the way a browser would and sends what a
// browser sends: Accept: text/html and a User-Agent.
type browser struct {
	c      *testConsole
	cookie *http.Cookie
}

func (c *testConsole) browser() *browser { return &browser{c: c} }

// signedIn returns a browser signed in with the console's key.
func (c *testConsole) signedIn() *browser {
	c.t.Helper()
	b := c.browser()
	b.login(c.key).wantRedirect("/admin/")
	return b
}

type response struct {
	t *testing.T
	*http.Response
	body string
}

// do sends a request; headers are name, value pairs that replace the
// defaults ("" removes one).
func (b *browser) do(method, path string, form url.Values, headers ...string) *response {
	t := b.c.t
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.c.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
	req.Header.Set("User-Agent", uaFirefox)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	if b.cookie != nil {
		req.AddCookie(&http.Cookie{Name: b.cookie.Name, Value: b.cookie.Value})
	}
	client := *b.c.srv.Client()
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
		if c.Name == CookieName {
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
	b.c.t.Helper()
	return b.do("GET", path, nil, headers...)
}

func (b *browser) post(path string, form url.Values, headers ...string) *response {
	b.c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	return b.do("POST", path, form, headers...)
}

func (b *browser) login(key string) *response {
	b.c.t.Helper()
	return b.post("/admin/login", url.Values{"api_key": {key}})
}

// session is the admin session the browser's cookie points at.
func (b *browser) session() *sessiond.Session {
	b.c.t.Helper()
	if b.cookie == nil {
		b.c.t.Fatal("the browser has no admin cookie")
	}
	s, _, err := b.c.m.Validate(context.Background(), b.cookie.Value)
	if err != nil {
		b.c.t.Fatalf("the admin session: %v", err)
	}
	return s
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

// wantPage checks an HTML page of the console with status code that says
// each of substrings.
func (r *response) wantPage(code int, substrings ...string) *response {
	r.t.Helper()
	r.wantStatus(code)
	if ct := r.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		r.t.Fatalf("%s %s: Content-Type %q, want an HTML page:\n%s", r.Request.Method, r.Request.URL.Path, ct, r.body)
	}
	return r.wantBody(substrings...)
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

// lockedBuffer collects the console's log from the server's goroutines.
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

const (
	uaFirefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	uaIPhone  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	uaChrome  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)
