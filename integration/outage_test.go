package integration_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testserver"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/server/apikey"
	"github.com/sessiond/sessiond/sessionhttp"
	"github.com/sessiond/sessiond/stores"
)

var keys, _ = sessiond.NewKeyring([]byte("integration test secret, 32 bytes or more"))

// api is a running sessiond API on a store, with an API key.
type api struct {
	t   *testing.T
	srv *httptest.Server
	key string
}

func newAPI(t *testing.T, storeURL string) *api {
	t.Helper()
	store, err := stores.Open(t.Context(), storeURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ks := store.(server.APIKeyStore)
	key, rec := apikey.New("outage test", time.Now())
	if err := ks.CreateAPIKey(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	h := server.New(server.Options{Manager: sessiond.NewManager(store, keys, sessiond.Config{}), APIKeys: ks, RequestTimeout: 5 * time.Second})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &api{t: t, srv: srv, key: key}
}

// call answers status, error code (if any) and the decoded body, and how
// long it took.
func (a *api) call(method, path string, body any) (int, string, map[string]any, time.Duration) {
	a.t.Helper()
	var buf bytes.Buffer
	if body != nil {
		json.NewEncoder(&buf).Encode(body)
	}
	req, _ := http.NewRequest(method, a.srv.URL+path, &buf)
	req.Header.Set("Authorization", "Bearer "+a.key)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	took := time.Since(start)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	code := ""
	if e, ok := out["error"].(map[string]any); ok {
		code, _ = e["code"].(string)
	}
	return resp.StatusCode, code, out, took
}

// outage runs the same story on any store whose server can be stopped and
// started again: sessions work; with the server down every call fails
// closed with 503 store_unavailable, quickly, and /readyz says so; once it
// is back, service resumes without a restart and (if durable) the session
// created before the outage is still valid.
func outage(t *testing.T, storeURL string, stop, start func(), durable bool) {
	a := newAPI(t, storeURL)
	status, _, created, _ := a.call("POST", "/v1/sessions", map[string]any{"user_id": "alice", "data": map[string]any{"cart": 1}})
	if status != 201 {
		t.Fatalf("create: %d", status)
	}
	token := created["token"].(string)
	if status, _, _, _ := a.call("POST", "/v1/sessions/validate", map[string]string{"token": token}); status != 200 {
		t.Fatalf("validate before the outage: %d", status)
	}

	stop()
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/sessions/validate", map[string]string{"token": token}},
		{"POST", "/v1/sessions", map[string]string{"user_id": "bob"}},
		{"GET", "/v1/users/alice/sessions", nil},
		{"GET", "/readyz", nil},
	} {
		status, code, _, took := a.call(c.method, c.path, c.body)
		if status != http.StatusServiceUnavailable || code != sessionhttp.CodeStoreUnavailable {
			t.Errorf("%s %s with the store down: %d %q, want 503 store_unavailable", c.method, c.path, status, code)
		}
		if took > 6*time.Second {
			t.Errorf("%s %s took %v to fail", c.method, c.path, took)
		}
		t.Logf("%s %s with the store down: %d in %v", c.method, c.path, status, took.Round(time.Millisecond))
	}

	start()
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, _, _, _ := a.call("GET", "/readyz", nil)
		if status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not recover after the store came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if durable {
		status, _, _, _ := a.call("POST", "/v1/sessions/validate", map[string]string{"token": token})
		if status != 200 {
			t.Fatalf("the session committed before the outage is gone: %d", status)
		}
	}
	if status, _, _, _ := a.call("POST", "/v1/sessions", map[string]string{"user_id": "carol"}); status != 201 {
		t.Fatalf("create after recovery: %d", status)
	}
}

func TestOutagePostgres(t *testing.T) {
	pg := testserver.Postgres(t)
	outage(t, pg.URL, func() { pg.Stop(t) }, func() { pg.Start(t) }, true)
}

func TestOutageMariaDB(t *testing.T) {
	db := testserver.MariaDB(t)
	outage(t, db.URL, db.Stop, db.Start, true)
}
