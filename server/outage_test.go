package server_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/sessionhttp"
	"github.com/sessiond/sessiond/stores/memory"
	"github.com/sessiond/sessiond/stores/sqlite"
)

func openSQLite(t *testing.T) *sqlite.Store {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "sessiond.db"), sqlite.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// The whole API over a real SQLite file: the keys live in the same store.
func TestSQLite(t *testing.T) {
	store := openSQLite(t)
	a := newAPI(t, store, store, sessiond.Config{})
	c := a.create("alice")
	expectStatus(t, a.validate(c.Token), http.StatusOK)
	w := a.do("PATCH", "/v1/sessions/"+c.Session.ID+"/data", `{"cart":[1]}`)
	expectStatus(t, w, http.StatusOK)
	rot := decodeAs[created](t, a.do("POST", "/v1/sessions/rotate", mustJSON(t, map[string]string{"token": c.Token})))
	expectError(t, a.validate(c.Token), http.StatusUnauthorized, sessiond.ErrInvalidSession.Code)
	if v := decodeAs[validated](t, a.validate(rot.Token)); string(v.Session.Data) != `{"cart":[1]}` {
		t.Errorf("after rotation: %s", v.Session.Data)
	}
	if u := decodeAs[userBody](t, a.do("PUT", "/v1/users/alice", `{"status":"banned"}`)); *u.Revoked != 1 {
		t.Errorf("ban revoked %d", *u.Revoked)
	}
	expectError(t, a.do("POST", "/v1/sessions", `{"user_id":"alice"}`), http.StatusForbidden, sessiond.ErrUserBanned.Code)
	expectStatus(t, a.do("GET", "/readyz", ""), http.StatusOK)
}

// A store that cannot answer fails closed: 503 store_unavailable, the
// cause in the log at error level and nowhere in the answer. The store is a
// real SQLite file, closed under the server's feet.
func TestStoreUnavailable(t *testing.T) {
	t.Run("keys in the same store", func(t *testing.T) {
		store := openSQLite(t)
		a := newAPI(t, store, store, sessiond.Config{})
		c := a.create("alice")
		store.Close()

		expectStatus(t, a.do("GET", "/healthz", ""), http.StatusOK)
		expectError(t, a.do("GET", "/readyz", ""), http.StatusServiceUnavailable, sessionhttp.CodeStoreUnavailable)
		// The API key cannot be checked: refused, not waved through.
		expectError(t, a.validate(c.Token), http.StatusServiceUnavailable, sessionhttp.CodeStoreUnavailable)
		expectError(t, a.do("POST", "/v1/sessions", `{"user_id":"bob"}`), http.StatusServiceUnavailable, sessionhttp.CodeStoreUnavailable)
		// A request without a key needs no store to be refused.
		expectError(t, a.do("POST", "/v1/sessions", `{"user_id":"bob"}`, withoutHeader("Authorization")), http.StatusUnauthorized, server.CodeUnauthorized)
		expectLoggedOutage(t, a)
	})

	t.Run("sessions store down", func(t *testing.T) {
		store := openSQLite(t)
		a := newAPI(t, store, memory.New(), sessiond.Config{})
		c := a.create("alice")
		id := c.Session.ID
		store.Close()

		for _, rt := range []struct{ method, path, body string }{
			{"POST", "/v1/sessions", `{"user_id":"bob"}`},
			{"POST", "/v1/sessions/validate", mustJSON(t, map[string]string{"token": c.Token})},
			{"POST", "/v1/sessions/rotate", mustJSON(t, map[string]string{"token": c.Token})},
			{"POST", "/v1/sessions/revoke", mustJSON(t, map[string]string{"token": c.Token})},
			{"GET", "/v1/sessions/" + id, ""},
			{"DELETE", "/v1/sessions/" + id, ""},
			{"PATCH", "/v1/sessions/" + id + "/data", `{"a":1}`},
			{"GET", "/v1/users/alice/sessions", ""},
			{"DELETE", "/v1/users/alice/sessions", ""},
			{"GET", "/v1/users/alice", ""},
			{"PUT", "/v1/users/alice", `{"status":"banned"}`},
			{"GET", "/readyz", ""},
		} {
			t.Run(rt.method+" "+rt.path, func(t *testing.T) {
				expectError(t, a.do(rt.method, rt.path, rt.body), http.StatusServiceUnavailable, sessionhttp.CodeStoreUnavailable)
			})
		}
		// What can be refused without the store still is, with its own code.
		expectError(t, a.validate("sess_forged"), http.StatusUnauthorized, sessiond.ErrInvalidSession.Code)
		expectError(t, a.do("POST", "/v1/sessions", `{"user_id":""}`), http.StatusBadRequest, sessiond.ErrInvalidRequest.Code)
		expectError(t, a.do("GET", "/v1/sessions/nope", ""), http.StatusNotFound, sessiond.ErrNotFound.Code)
		expectStatus(t, a.do("GET", "/healthz", ""), http.StatusOK)
		expectLoggedOutage(t, a)
	})
}

func expectLoggedOutage(t *testing.T, a *api) {
	t.Helper()
	logs := a.logs.String()
	if !strings.Contains(logs, `"level":"ERROR"`) || !strings.Contains(logs, "closed") {
		t.Errorf("the outage was not logged with its cause:\n%s", logs)
	}
}
