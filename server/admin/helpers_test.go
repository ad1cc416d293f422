package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/browsertest"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/server/apikey"
	"github.com/sessiond/sessiond/stores/memory"
	"github.com/sessiond/sessiond/stores/sqlite"
)

const testSecret = "admin test secret: at least 32 bytes long"

// testStore is what the console runs on: a session store that also keeps
// the API keys, like every store the server opens.
type testStore interface {
	sessiond.Store
	server.APIKeyStore
}

// testConsole is the console served by a real HTTP server, over a real
// store, with one API key to sign in with.
type testConsole struct {
	t      *testing.T
	store  testStore
	m      *sessiond.Manager
	srv    *httptest.Server
	key    string // the API key, as `sessiond apikey create` prints it
	keyRec apikey.Key
	// ids are the session ids of the tokens newSession made.
	ids  map[string]string
	logs *browsertest.LogBuffer
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
	c := &testConsole{t: t, store: store, logs: &browsertest.LogBuffer{}, ids: map[string]string{}}
	// A long idle timeout, so that moving the clock tests the console's own
	// time limit, not the manager's idle expiry.
	c.m = sessiond.NewManager(store, keys, sessiond.Config{
		IdleTimeout: 24 * time.Hour,
		Now:         func() time.Time { return time.Now().Add(time.Duration(c.skew.Load())) },
	})
	c.key, c.keyRec = c.newKey("ops laptop")
	h := New(Options{
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
		if strings.Contains(logs, c.key) || strings.Contains(logs, "sess_") {
			t.Errorf("a secret reached the log:\n%s", logs)
		}
	})
	return c
}

// newKey makes an API key the way `sessiond apikey create` does.
func (c *testConsole) newKey(name string) (string, apikey.Key) {
	c.t.Helper()
	key, rec := apikey.New(name, time.Now())
	if err := c.store.CreateAPIKey(context.Background(), rec); err != nil {
		c.t.Fatal(err)
	}
	return key, rec
}

// newSession signs user in from a device, as an application would, and
// returns the token.
func (c *testConsole) newSession(user, ip, ua string) string {
	c.t.Helper()
	token, s, err := c.m.Create(context.Background(), sessiond.NewSession{UserID: user, Client: sessiond.Client{IP: ip, UserAgent: ua}})
	if err != nil {
		c.t.Fatal(err)
	}
	c.ids[token] = s.ID
	return token
}

// idOf is the session id of a token newSession made: its stable id, which
// the console shows and its forms post.
func (c *testConsole) idOf(token string) string {
	c.t.Helper()
	id, ok := c.ids[token]
	if !ok {
		c.t.Fatal("idOf: a token newSession did not make")
	}
	return id
}

// valid reports whether an application's token still validates, and with
// which user record.
func (c *testConsole) valid(token string) (sessiond.User, bool) {
	c.t.Helper()
	_, u, err := c.m.Validate(context.Background(), token)
	if err != nil && !errors.Is(err, sessiond.ErrInvalidSession) {
		c.t.Fatal(err)
	}
	return u, err == nil
}

// browser is a browser of the console's operator: it keeps the admin
// cookie and sends what Firefox sends.
type browser struct {
	*browsertest.Client
	c *testConsole
}

func (c *testConsole) browser() *browser {
	return &browser{Client: browsertest.NewClient(c.t, c.srv, CookieName, browsertest.UAFirefox), c: c}
}

// signedIn returns a browser signed in with the console's key.
func (c *testConsole) signedIn() *browser {
	c.t.Helper()
	b := c.browser()
	b.login(c.key).WantRedirect("/admin/")
	return b
}

func (b *browser) login(key string) *browsertest.Response {
	b.c.t.Helper()
	return b.Post("/admin/login", url.Values{"api_key": {key}})
}

// session is the admin session the browser's cookie points at.
func (b *browser) session() sessiond.Session {
	b.c.t.Helper()
	if b.Cookie == nil {
		b.c.t.Fatal("the browser has no admin cookie")
	}
	s, _, err := b.c.m.Validate(context.Background(), b.Cookie.Value)
	if err != nil {
		b.c.t.Fatalf("the admin session: %v", err)
	}
	return s
}
