package main_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testserver"
)

// binary is the sessiond command, built once for every test.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sessiond-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "sessiond")
	build := exec.Command("go", "build", "-race", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building sessiond:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is a clean environment: HOME in a temp dir, no SESSIOND_* or
// XDG_DATA_HOME from the machine running the tests, plus extra. The binary
// is built with the race detector, which by default sleeps a second at
// exit; GORACE turns that off (a race still fails the run: exit 66).
func env(t *testing.T, extra ...string) []string {
	t.Helper()
	out := []string{"GORACE=atexit_sleep_ms=0"}
	for _, kv := range os.Environ() {
		switch {
		case strings.HasPrefix(kv, "SESSIOND_"), strings.HasPrefix(kv, "XDG_DATA_HOME="),
			strings.HasPrefix(kv, "HOME="), strings.HasPrefix(kv, "GORACE="):
		default:
			out = append(out, kv)
		}
	}
	return append(append(out, "HOME="+t.TempDir()), extra...)
}

type result struct {
	stdout, stderr string
	code           int
}

// sessiond runs a one-shot command to completion.
func sessiond(t *testing.T, environ []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = environ
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("sessiond %v: %v", args, err)
	}
	return result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
}

func mustRun(t *testing.T, environ []string, args ...string) string {
	t.Helper()
	r := sessiond(t, environ, args...)
	if r.code != 0 {
		t.Fatalf("sessiond %v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// createKey runs `apikey create` and returns the key from the last line.
func createKey(t *testing.T, environ []string, args ...string) string {
	t.Helper()
	key := lastLine(mustRun(t, environ, append([]string{"apikey", "create", "--name", "test"}, args...)...))
	if !strings.HasPrefix(key, "sk_") || strings.ContainsAny(key, " \t") {
		t.Fatalf("last line %q is not a key alone", key)
	}
	return key
}

// daemon is a running `sessiond serve`.
type daemon struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string
	stderr *lockedBuffer
	exited chan struct{}
}

// serve starts `sessiond serve` on a free port and waits until /healthz
// answers.
func serve(t *testing.T, environ []string, args ...string) *daemon {
	t.Helper()
	addr := testserver.Addr(testserver.FreePort(t))
	d := &daemon{t: t, url: "http://" + addr, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	d.cmd = exec.Command(binary, append([]string{"serve", "--addr", addr}, args...)...)
	d.cmd.Env = environ
	d.cmd.Stderr = d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			d.cmd.Process.Kill()
			<-d.exited
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(d.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d
			}
		}
		select {
		case <-d.exited:
			t.Fatalf("sessiond serve exited: %v\n%s", d.cmd.ProcessState, d.stderr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessiond serve did not come up\n%s", d.stderr)
		}
	}
}

// stop sends SIGTERM and returns the exit code; the server must stop
// within a few seconds.
func (d *daemon) stop() int {
	d.t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		d.t.Fatal(err)
	}
	return d.wait()
}

func (d *daemon) wait() int {
	d.t.Helper()
	select {
	case <-d.exited:
		return d.cmd.ProcessState.ExitCode()
	case <-time.After(10 * time.Second):
		d.t.Fatalf("sessiond did not exit within 10s of SIGTERM\n%s", d.stderr)
		return -1
	}
}

// call sends a JSON API request.
func (d *daemon) call(method, path, key, body string) (int, string) {
	d.t.Helper()
	req, err := http.NewRequest(method, d.url+path, strings.NewReader(body))
	if err != nil {
		d.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// lockedBuffer collects a process's stderr while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type createdSession struct {
	Token   string `json:"token"`
	Session struct {
		ID     string `json:"id"`
		UserID string `json:"user_id"`
	} `json:"session"`
}

func createSession(t *testing.T, d *daemon, key, user string) createdSession {
	t.Helper()
	status, body := d.call("POST", "/v1/sessions", key, `{"user_id":"`+user+`"}`)
	if status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	var c createdSession
	if err := json.Unmarshal([]byte(body), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func validate(d *daemon, key, token string) int {
	status, _ := d.call("POST", "/v1/sessions/validate", key, `{"token":"`+token+`"}`)
	return status
}

// The path the README promises: create a key, serve, create and validate a
// session with it, list and revoke from the command line, stop on SIGTERM.
func TestKeyServeSessionsRevoke(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	environ := env(t)
	key := createKey(t, environ, "--data-dir", dataDir)

	d := serve(t, environ, "--data-dir", dataDir)
	for _, path := range []string{"/healthz", "/readyz"} {
		if status, body := d.call("GET", path, "", ""); status != http.StatusOK {
			t.Errorf("%s: %d %s", path, status, body)
		}
	}
	if status, _ := d.call("POST", "/v1/sessions", "", `{"user_id":"alice"}`); status != http.StatusUnauthorized {
		t.Errorf("without a key: %d", status)
	}
	c := createSession(t, d, key, "alice")
	createSession(t, d, key, "alice")
	if status := validate(d, key, c.Token); status != http.StatusOK {
		t.Fatalf("validate: %d", status)
	}

	// The CLI sees the same store while the server runs.
	out := mustRun(t, environ, "sessions", "list", "--user", "alice", "--data-dir", dataDir)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("sessions list: %q", out)
	}
	for _, l := range lines {
		var s struct {
			ID     string `json:"id"`
			UserID string `json:"user_id"`
		}
		if err := json.Unmarshal([]byte(l), &s); err != nil || s.UserID != "alice" || len(s.ID) != 22 {
			t.Errorf("line %q: %v", l, err)
		}
	}
	if !strings.Contains(out, c.Session.ID) || strings.Contains(out, c.Token) {
		t.Errorf("sessions list shows %q", out)
	}
	if out := mustRun(t, environ, "sessions", "list", "--user", "nobody", "--data-dir", dataDir); out != "" {
		t.Errorf("no sessions: %q", out)
	}

	if out := mustRun(t, environ, "revoke", "--session", c.Session.ID, "--data-dir", dataDir); out != "revoked 1\n" {
		t.Errorf("revoke --session: %q", out)
	}
	if status := validate(d, key, c.Token); status != http.StatusUnauthorized {
		t.Errorf("validate after revoke --session: %d", status)
	}
	if out := mustRun(t, environ, "revoke", "--session", c.Session.ID, "--data-dir", dataDir); out != "revoked 0\n" {
		t.Errorf("revoke --session again: %q", out)
	}
	if out := mustRun(t, environ, "revoke", "--user", "alice", "--data-dir", dataDir); out != "revoked 1\n" {
		t.Errorf("revoke --user: %q", out)
	}
	if out := mustRun(t, environ, "sessions", "list", "--user", "alice", "--data-dir", dataDir); out != "" {
		t.Errorf("after revoke --user: %q", out)
	}

	if code := d.stop(); code != 0 {
		t.Errorf("exit %d after SIGTERM\n%s", code, d.stderr)
	}
	logs := d.stderr.String()
	if !strings.Contains(logs, `"msg":"sessiond listening"`) || !strings.Contains(logs, `"store":"sqlite"`) {
		t.Errorf("startup not logged:\n%s", logs)
	}
	if strings.Contains(logs, key) || strings.Contains(logs, c.Token) {
		t.Errorf("a secret was logged:\n%s", logs)
	}
	// The data directory and the generated key are private.
	for path, want := range map[string]os.FileMode{dataDir: 0o700 | os.ModeDir, filepath.Join(dataDir, "secret.key"): 0o600} {
		if st, err := os.Stat(path); err != nil || st.Mode() != want {
			t.Errorf("%s: %v %v, want %v", path, st.Mode(), err, want)
		}
	}
}

// API keys: list shows them; a revoked key is refused by the running
// server at once (no cache).
func TestAPIKeyListRevoke(t *testing.T) {
	dataDir := t.TempDir()
	environ := env(t, "SESSIOND_DATA_DIR="+dataDir) // the environment works like the flag
	key := createKey(t, environ)
	mustRun(t, environ, "apikey", "create", "--name", "other service")

	out := mustRun(t, environ, "apikey", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("apikey list: %q", out)
	}
	fields := strings.Split(lines[0], "\t")
	if len(fields) != 3 || !strings.HasPrefix(fields[0], "key_") || fields[1] != "test" {
		t.Fatalf("apikey list line %q", lines[0])
	}
	if _, err := time.Parse(time.RFC3339, fields[2]); err != nil {
		t.Errorf("created: %v", err)
	}
	if strings.Contains(out, key) {
		t.Error("apikey list shows a key")
	}

	d := serve(t, environ)
	createSession(t, d, key, "alice")
	// The id may come before or after the flags.
	if out := mustRun(t, environ, "apikey", "revoke", fields[0], "--data-dir", dataDir); !strings.Contains(out, fields[0]) {
		t.Errorf("apikey revoke: %q", out)
	}
	if status, _ := d.call("POST", "/v1/sessions", key, `{"user_id":"alice"}`); status != http.StatusUnauthorized {
		t.Errorf("revoked key: %d", status)
	}
	if r := sessiond(t, environ, "apikey", "revoke", fields[0]); r.code != 1 || !strings.Contains(r.stderr, "not_found") {
		t.Errorf("revoking an unknown key: %+v", r)
	}
	if d.stop() != 0 {
		t.Error(d.stderr)
	}
}

// Tokens survive a restart: the generated key is reused, and the SQLite
// file keeps the sessions.
func TestRestartKeepsSessions(t *testing.T) {
	dataDir := t.TempDir()
	environ := env(t)
	key := createKey(t, environ, "--data-dir", dataDir)

	d := serve(t, environ, "--data-dir", dataDir)
	c := createSession(t, d, key, "alice")
	if d.stop() != 0 {
		t.Fatal(d.stderr)
	}
	secret, err := os.ReadFile(filepath.Join(dataDir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}

	d = serve(t, environ, "--data-dir", dataDir)
	if status := validate(d, key, c.Token); status != http.StatusOK {
		t.Errorf("after a restart the token is refused: %d", status)
	}
	d.stop()
	if again, _ := os.ReadFile(filepath.Join(dataDir, "secret.key")); !bytes.Equal(again, secret) {
		t.Error("the generated key was replaced")
	}
}

// $SESSIOND_SECRET and --secret-file set the keys; nothing is generated.
// A token signed under one secret is refused under another.
func TestSecrets(t *testing.T) {
	dataDir := t.TempDir()
	environ := env(t)
	key := createKey(t, environ, "--data-dir", dataDir)
	const s1, s2 = "first-secret-of-at-least-32-bytes!!", "second-secret-of-at-least-32-bytes!"

	d := serve(t, append(environ, "SESSIOND_SECRET="+s1), "--data-dir", dataDir)
	c := createSession(t, d, key, "alice")
	d.stop()
	if _, err := os.Stat(filepath.Join(dataDir, "secret.key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a key was generated although one was given: %v", err)
	}

	// Rotation: the new secret first, the old one still verifies.
	file := filepath.Join(t.TempDir(), "secrets")
	os.WriteFile(file, []byte(s2+","+s1+"\n"), 0o600)
	d = serve(t, environ, "--data-dir", dataDir, "--secret-file", file)
	if status := validate(d, key, c.Token); status != http.StatusOK {
		t.Errorf("old secret kept, token refused: %d", status)
	}
	d.stop()

	d = serve(t, append(environ, "SESSIOND_SECRET="+s2), "--data-dir", dataDir)
	if status := validate(d, key, c.Token); status != http.StatusUnauthorized {
		t.Errorf("old secret dropped, token accepted: %d", status)
	}
	d.stop()

	for name, r := range map[string]result{
		"weak secret": sessiond(t, append(environ, "SESSIOND_SECRET=short"), "serve", "--data-dir", dataDir, "--addr", "127.0.0.1:0"),
		"both":        sessiond(t, append(environ, "SESSIOND_SECRET="+s1), "serve", "--data-dir", dataDir, "--secret-file", file, "--addr", "127.0.0.1:0"),
		"no file":     sessiond(t, environ, "serve", "--data-dir", dataDir, "--secret-file", file+".missing", "--addr", "127.0.0.1:0"),
	} {
		if r.code != 1 || !strings.Contains(r.stderr, `"level":"ERROR"`) {
			t.Errorf("%s: exit %d\n%s", name, r.code, r.stderr)
		}
		if strings.Contains(r.stderr, s1) {
			t.Errorf("%s: the secret was logged", name)
		}
	}
}

// SIGTERM lets a request in flight finish, then the process exits 0.
func TestGracefulShutdown(t *testing.T) {
	dataDir := t.TempDir()
	environ := env(t)
	key := createKey(t, environ, "--data-dir", dataDir)
	d := serve(t, environ, "--data-dir", dataDir)

	// A request whose body arrives slowly is in flight when SIGTERM comes.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", d.url+"/v1/sessions", pr)
	req.Header.Set("Authorization", "Bearer "+key)
	type answer struct {
		status int
		err    error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- answer{0, err}
			return
		}
		resp.Body.Close()
		answered <- answer{resp.StatusCode, nil}
	}()
	if _, err := io.WriteString(pw, `{"user_id":`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let the server start on the request

	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.exited:
		t.Fatalf("exited with a request in flight\n%s", d.stderr)
	case <-time.After(300 * time.Millisecond):
	}
	io.WriteString(pw, `"alice"}`)
	pw.Close()
	if a := <-answered; a.err != nil || a.status != http.StatusCreated {
		t.Errorf("the request in flight got %d %v", a.status, a.err)
	}
	if code := d.wait(); code != 0 {
		t.Errorf("exit %d\n%s", code, d.stderr)
	}
}

// A flag given on the command line wins over its environment variable.
func TestFlagBeatsEnv(t *testing.T) {
	dataDir, other := t.TempDir(), t.TempDir()
	environ := env(t, "SESSIOND_DATA_DIR="+other, "SESSIOND_ADDR=127.0.0.1:1")
	key := createKey(t, environ, "--data-dir", dataDir)
	d := serve(t, environ, "--data-dir", dataDir) // serve passes --addr
	createSession(t, d, key, "alice")
	d.stop()
	if _, err := os.Stat(filepath.Join(other, "sessiond.db")); !errors.Is(err, os.ErrNotExist) {
		t.Error("the environment's data dir was used despite --data-dir")
	}
}

// Without --data-dir the data lives under $XDG_DATA_HOME, else ~/.local/share.
func TestDefaultDataDir(t *testing.T) {
	environ := env(t)
	home := strings.TrimPrefix(environ[len(environ)-1], "HOME=")
	createKey(t, environ)
	if _, err := os.Stat(filepath.Join(home, ".local/share/sessiond/sessiond.db")); err != nil {
		t.Error(err)
	}
	xdg := t.TempDir()
	createKey(t, append(environ, "XDG_DATA_HOME="+xdg))
	if _, err := os.Stat(filepath.Join(xdg, "sessiond/sessiond.db")); err != nil {
		t.Error(err)
	}
}

func TestServeHelpListsFlagsAndEnv(t *testing.T) {
	r := sessiond(t, env(t), "serve", "--help")
	if r.code != 0 {
		t.Errorf("exit %d", r.code)
	}
	for _, f := range []string{"addr", "store", "data-dir", "cookie-name", "idle-timeout", "lifetime", "touch-interval", "max-data-size", "log-level", "secret-file"} {
		env := "$SESSIOND_" + strings.ToUpper(strings.ReplaceAll(f, "-", "_"))
		if !strings.Contains(r.stderr, "-"+f+" ") || !strings.Contains(r.stderr, env) {
			t.Errorf("help lacks --%s or %s:\n%s", f, env, r.stderr)
		}
	}
	if !strings.Contains(r.stderr, "SESSIOND_SECRET ") {
		t.Error("help does not mention SESSIOND_SECRET")
	}
}

func TestUsageErrors(t *testing.T) {
	environ := env(t)
	dataDir := t.TempDir()
	for name, args := range map[string][]string{
		"no command":              {},
		"unknown command":         {"frobnicate"},
		"unknown flag":            {"serve", "--nope"},
		"bad duration":            {"serve", "--idle-timeout", "soon"},
		"zero lifetime":           {"serve", "--lifetime", "0s"},
		"bad log level":           {"serve", "--log-level", "loud"},
		"bad cookie name":         {"serve", "--cookie-name", "a b"},
		"serve argument":          {"serve", "extra"},
		"apikey alone":            {"apikey"},
		"apikey unknown":          {"apikey", "rotate"},
		"apikey create no name":   {"apikey", "create", "--data-dir", dataDir},
		"apikey create bad name":  {"apikey", "create", "--name", "a\tb", "--data-dir", dataDir},
		"apikey revoke no id":     {"apikey", "revoke", "--data-dir", dataDir},
		"apikey revoke two ids":   {"apikey", "revoke", "key_a", "key_b", "--data-dir", dataDir},
		"sessions alone":          {"sessions"},
		"sessions list no user":   {"sessions", "list", "--data-dir", dataDir},
		"revoke neither":          {"revoke", "--data-dir", dataDir},
		"revoke both":             {"revoke", "--user", "a", "--session", strings.Repeat("a", 64), "--data-dir", dataDir},
		"revoke bad session id":   {"revoke", "--session", "abc", "--data-dir", dataDir},
		"revoke old hex id":       {"revoke", "--session", strings.Repeat("a", 64), "--data-dir", dataDir},
		"revoke user not UTF-8":   {"revoke", "--user", "\xff", "--data-dir", dataDir},
		"version argument":        {"version", "now"},
		"unknown flag on version": {"version", "--json"},
	} {
		t.Run(name, func(t *testing.T) {
			r := sessiond(t, environ, args...)
			if r.code != 2 || !strings.Contains(r.stderr, "usage: sessiond") || r.stdout != "" {
				t.Errorf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
		})
	}
	// A bad value in the environment is a usage error too.
	if r := sessiond(t, append(environ, "SESSIOND_IDLE_TIMEOUT=soon"), "serve"); r.code != 2 || !strings.Contains(r.stderr, "SESSIOND_IDLE_TIMEOUT") {
		t.Errorf("bad env: exit %d\n%s", r.code, r.stderr)
	}
	// Operands are not read from the environment: a leftover variable
	// never picks what gets revoked.
	if r := sessiond(t, append(environ, "SESSIOND_USER=alice"), "revoke", "--data-dir", dataDir); r.code != 2 {
		t.Errorf("SESSIOND_USER was used as --user: exit %d %s", r.code, r.stdout)
	}
}

func TestVersion(t *testing.T) {
	out := mustRun(t, env(t), "version")
	if !strings.HasPrefix(out, "sessiond ") || len(strings.Fields(out)) != 2 {
		t.Errorf("version: %q", out)
	}
}

// The memory store works for every command (each run has its own).
func TestMemoryStore(t *testing.T) {
	environ := env(t, "SESSIOND_STORE=memory://")
	key := createKey(t, environ)
	if out := mustRun(t, environ, "apikey", "list"); out != "" {
		t.Errorf("a fresh memory store lists %q", out)
	}
	d := serve(t, environ)
	if status, _ := d.call("GET", "/v1/users/alice", key, ""); status != http.StatusUnauthorized {
		t.Errorf("a key from another process's memory store: %d", status)
	}
	d.stop()
	if !strings.Contains(d.stderr.String(), `"store":"memory"`) {
		t.Errorf("store scheme not logged:\n%s", d.stderr)
	}
}
