package deploy_test

import (
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"aidanwoods.dev/go-paseto"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/nearcache"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/server/assertion"
	"github.com/sessiond/sessiond/server/onetime"
	"github.com/sessiond/sessiond/stores/memory"
)

// BenchmarkForwardAuth measures one /v1/auth check, each next to a peer in
// the same run: in process against /healthz (the cost of the handler
// stack alone), and through each proxy against calling the application
// directly (the cost of the proxy's hop alone).
//
//	go test -run '^$' -bench ForwardAuth ./deploy/
func BenchmarkForwardAuth(b *testing.B) {
	r := newRig(b, proxies[0], 1<<30)
	token, _ := r.login("alice", "admin", "staff")

	inProcess := func(h http.Handler, path, token string) func(*testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest("GET", path, nil)
				req.Header.Set("Cookie", "__Host-session="+token)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d", w.Code)
				}
			}
		}
	}
	b.Run("handler/healthz", inProcess(r.plain, "/healthz", token))
	b.Run("handler/sqlite", inProcess(r.plain, "/v1/auth", token))
	b.Run("handler/sqlite+assertion", inProcess(r.asserted, "/v1/auth", token))

	// The memory store announces invalidations, so it gets the near cache,
	// as Redis and PostgreSQL do.
	mem := memory.New()
	keys, _ := sessiond.NewKeyring([]byte("deploy-test-secret-of-32-bytes!!"))
	cached, err := nearcache.New(mem, nearcache.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer cached.Close()
	m := sessiond.NewManager(mem, keys, sessiond.Config{Cache: cached})
	memToken, _, err := m.Create(b.Context(), sessiond.NewSession{UserID: "alice"})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("handler/memory+nearcache", inProcess(server.New(server.Options{Manager: m, APIKeys: mem, Logger: slog.New(slog.DiscardHandler)}), "/v1/auth", memToken))

	overHTTP := func(url, token string) func(*testing.B) {
		return func(b *testing.B) {
			c := newClient(b, 9)
			for b.Loop() {
				req, _ := http.NewRequest("GET", url, nil)
				req.Header.Set("Cookie", "__Host-session="+token)
				resp, err := c.http.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		}
	}
	b.Run("http/sessiond", overHTTP(r.api+"/v1/auth", token))
	b.Run("http/app-direct", overHTTP("http://"+r.app.addr+"/", token))
	b.Run("http/nginx", overHTTP(r.url+"/", token))
	caddy := newRig(b, proxies[1], 1<<30)
	caddyToken, _ := caddy.login("alice", "admin", "staff")
	b.Run("http/caddy", overHTTP(caddy.url+"/", caddyToken))
}

// TestTokenSizes reports what each kind of token weighs on the wire (run
// with -v); the session token's bound is the specification's.
func TestTokenSizes(t *testing.T) {
	mem := memory.New()
	keys, _ := sessiond.NewKeyring([]byte("deploy-test-secret-of-32-bytes!!"))
	m := sessiond.NewManager(mem, keys, sessiond.Config{})
	token, sess, err := m.Create(t.Context(), sessiond.NewSession{UserID: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if len(token) >= 100 {
		t.Errorf("session token: %d bytes, want well under 100", len(token))
	}
	t.Logf("session token: %d bytes", len(token))

	_, priv, _ := ed25519.GenerateKey(nil)
	signer, _ := assertion.NewSigner(assertion.Options{}, priv)
	for _, roles := range [][]string{nil, {"admin", "staff"}} {
		a, err := signer.Sign(sess, sessiond.User{ID: "alice"}.WithRoles(roles...))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("identity assertion, user %q, roles %v: %d bytes", sess.UserID, roles, len(a))
	}

	issuer, _ := onetime.NewIssuer(mem, paseto.NewV4AsymmetricSecretKey())
	claims, _ := json.Marshal(map[string]string{"path": "/reports/2026-q3.pdf"})
	for _, req := range []onetime.Request{
		{Purpose: "email-verify", Subject: "alice", SingleUse: true},
		{Purpose: "password-reset", Subject: "alice@example.com", SingleUse: true, TTL: 15 * time.Minute},
		{Purpose: "download", Subject: "alice", Audience: "files.example.com", Claims: claims},
	} {
		tok, _, err := issuer.Issue(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("one-time token, purpose %q, audience %q, claims %s: %d bytes", req.Purpose, req.Audience, req.Claims, len(tok))
	}
}
