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
	"github.com/sessiond/sessiond/internal/browsertest"
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
	t.Cleanup(a.Close)
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return &testShop{t: t, app: a, store: store, srv: srv}
}

// browser is one device: it keeps the session cookie the way a browser
// would and sends what a browser sends: Accept: text/html, its own
// User-Agent.
type browser struct {
	*browsertest.Client
	shop *testShop
}

func (s *testShop) browser(ua string) *browser {
	return &browser{Client: browsertest.NewClient(s.t, s.srv, sessionhttp.DefaultCookieName, ua), shop: s}
}

// signedIn returns a browser signed in as user.
func (s *testShop) signedIn(user, ua string) *browser {
	s.t.Helper()
	b := s.browser(ua)
	b.login(user, testPassword).WantRedirect("/")
	return b
}

func (b *browser) login(user, password string) *browsertest.Response {
	b.shop.t.Helper()
	return b.Post("/login", url.Values{"username": {user}, "password": {password}})
}

// whoami is the user the header says is signed in, or "" for anonymous.
func (b *browser) whoami() string {
	b.shop.t.Helper()
	r := b.Get("/").WantStatus(http.StatusOK)
	_, after, ok := strings.Cut(r.Body, `<strong id="user">`)
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(after, "<")
	return name
}

// sessionOf returns the live session a browser's cookie points at.
func (s *testShop) sessionOf(b *browser) sessiond.Session {
	s.t.Helper()
	if b.Cookie == nil {
		s.t.Fatal("the browser has no session cookie")
	}
	sess, _, err := s.app.manager.Validate(context.Background(), b.Cookie.Value)
	if err != nil {
		s.t.Fatalf("the browser's session: %v", err)
	}
	return sess
}
