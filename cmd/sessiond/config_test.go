package main_test

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/testserver"
)

// One config file serves the server and the admin commands: the key that
// `apikey create --config` stores is the one the server checks, the
// sessions it creates are the ones `sessions list --config` shows, and the
// token secret comes from the file.
func TestConfigFileSharedByCommands(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	config := filepath.Join(t.TempDir(), "sessiond.conf")
	const secret = "a-token-secret-from-the-config-file!"
	text := "# sessiond\ndata-dir = " + dataDir + "\nidle-timeout = 10m\nnear-cache = false\nsecret = " + secret + "\n"
	if err := os.WriteFile(config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	environ := env(t, "SESSIOND_CONFIG="+config)
	key := createKey(t, environ)
	d := serve(t, environ)
	c := createSession(t, d, key, "alice")
	if out := mustRun(t, environ, "sessions", "list", "--user", "alice"); !strings.Contains(out, c.Session.ID) {
		t.Errorf("sessions list: %q", out)
	}
	if d.stop() != 0 {
		t.Error(d.stderr)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "sessiond.db")); err != nil {
		t.Errorf("the file's data-dir was not used: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "secret.key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a token key was generated although the file sets one: %v", err)
	}
	if strings.Contains(d.stderr.String(), secret) {
		t.Error("the secret was logged")
	}

	// Others may read the file: the secret in it is refused, not used.
	os.Chmod(config, 0o644)
	r := sessiond(t, environ, "serve", "--addr", "127.0.0.1:0")
	if r.code != 2 || !strings.Contains(r.stderr, config+":5:") || !strings.Contains(r.stderr, "chmod 600") || strings.Contains(r.stderr, secret) {
		t.Errorf("exit %d\n%s", r.code, r.stderr)
	}
}

// An unknown name in the file is a usage error naming the file and line.
func TestConfigFileUnknownSetting(t *testing.T) {
	config := filepath.Join(t.TempDir(), "sessiond.conf")
	os.WriteFile(config, []byte("addr = 127.0.0.1:0\nidle-timout = 5m\n"), 0o644)
	for _, args := range [][]string{{"serve"}, {"apikey", "list"}, {"revoke", "--user", "alice"}} {
		r := sessiond(t, env(t), append(args, "--config", config)...)
		if r.code != 2 || !strings.Contains(r.stderr, config+`:2: unknown setting "idle-timout"`) || r.stdout != "" {
			t.Errorf("%v: exit %d\n%s", args, r.code, r.stderr)
		}
	}
}

// GET /metrics needs no API key and counts the API's requests; with
// --metrics-addr it moves to its own listener, and --metrics=false turns
// it off.
func TestMetricsEndpoint(t *testing.T) {
	environ := env(t, "SESSIOND_STORE=memory://")

	d := serve(t, environ)
	d.call("GET", "/v1/users/alice", "", "")
	status, body := d.call("GET", "/metrics", "", "")
	if status != http.StatusOK || !strings.Contains(body, `sessiond_http_requests_total{code="401",route="GET /v1/users/{user_id}"} 1`) || !strings.Contains(body, "go_goroutines") {
		t.Errorf("GET /metrics: %d\n%.2000s", status, body)
	}
	d.stop()

	metricsAddr := testserver.Addr(testserver.FreePort(t))
	d = serve(t, environ, "--metrics-addr", metricsAddr)
	if status, _ := d.call("GET", "/metrics", "", ""); status != http.StatusNotFound {
		t.Errorf("GET /metrics on the API with --metrics-addr: %d", status)
	}
	d.call("GET", "/v1/users/alice", "", "")
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `sessiond_http_requests_total{code="401",route="GET /v1/users/{user_id}"} 1`) {
		t.Errorf("GET /metrics on --metrics-addr: %d\n%.2000s", resp.StatusCode, b)
	}
	if d.stop() != 0 {
		t.Error(d.stderr)
	}

	d = serve(t, environ, "--metrics=false")
	if status, _ := d.call("GET", "/metrics", "", ""); status != http.StatusNotFound {
		t.Errorf("GET /metrics with --metrics=false: %d", status)
	}
	d.stop()

	if r := sessiond(t, environ, "serve", "--metrics=false", "--metrics-addr", metricsAddr); r.code != 2 {
		t.Errorf("--metrics=false --metrics-addr: exit %d\n%s", r.code, r.stderr)
	}
}
