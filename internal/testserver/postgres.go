package testserver

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// PostgresServer is a PostgreSQL server for one test: a throwaway one in a
// temporary directory, or the one SESSIOND_TEST_POSTGRES_URL names.
type PostgresServer struct {
	// URL names a database of its own on the server, for this test.
	URL string

	admin    string // the maintenance database, for CREATE DATABASE
	external bool

	bin  map[string]string // postgres and initdb: their paths
	dir  string            // owned by the server's OS user: data/, the socket, server.log
	port int
	cred *syscall.Credential // the postgres OS user's, when the tests run as root

	cmd    *exec.Cmd
	exited chan struct{}
}

// Postgres starts a throwaway PostgreSQL server on a free loopback port and
// stops it when the test ends. The server runs with fsync=off: a test
// machine's OS does not crash mid-test, and a stopped and restarted server
// (Stop, Start) keeps every committed row all the same, since the files
// stay in the page cache and a fast shutdown writes a checkpoint.
//
// PostgreSQL refuses to run as root, so when the tests do, initdb and
// postgres run as the "postgres" OS user in a directory that user owns.
//
// If SESSIOND_TEST_POSTGRES_URL names a server, that one is used instead:
// each call gets a fresh database on it, dropped at the end, and Stop and
// Start skip the test.
func Postgres(t testing.TB) *PostgresServer {
	t.Helper()
	if u := os.Getenv("SESSIOND_TEST_POSTGRES_URL"); u != "" {
		p := &PostgresServer{admin: u, external: true}
		p.URL = p.NewDatabase(t)
		return p
	}
	p := &PostgresServer{bin: postgresBinaries(t)}
	parent := ""
	if os.Geteuid() == 0 {
		p.cred = postgresUser(t)
		// t.TempDir's parents are private to root; the server's user must
		// reach its directory.
		parent = "/tmp"
	}
	dir, err := os.MkdirTemp(parent, "sessiond-pg-")
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	p.dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	if p.cred != nil {
		if err := os.Chown(dir, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			t.Fatalf("testserver: %v", err)
		}
	}
	initdb := p.command("initdb", "-D", p.data(), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("testserver: initdb: %v\n%s", err, out)
	}
	p.port = FreePort(t)
	p.admin = fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", Addr(p.port))
	t.Cleanup(p.shutdown)
	p.Start(t)
	p.URL = p.NewDatabase(t)
	return p
}

// NewDatabase creates an empty database on the server and returns its URL.
// On an external server the database is dropped when the test ends.
func (p *PostgresServer) NewDatabase(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	name := "sessiond_" + hex.EncodeToString(b)
	p.admExec(t, `CREATE DATABASE "`+name+`"`)
	if p.external {
		t.Cleanup(func() { p.admExec(t, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`) })
	}
	u, err := url.Parse(p.admin)
	if err != nil {
		t.Fatal("testserver: SESSIOND_TEST_POSTGRES_URL is not a URL") // the error would show the password
	}
	u.Path = "/" + name
	return u.String()
}

// Stop shuts the server down the way an operator's fast shutdown does:
// clients are disconnected, committed data stays. It skips the test on an
// external server, which is not ours to stop.
func (p *PostgresServer) Stop(t testing.TB) {
	t.Helper()
	p.mustOwn(t)
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGINT) // "fast shutdown"
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		t.Fatalf("testserver: postgres did not stop within 30s\n%s", p.log())
	}
	p.cmd = nil
}

// Start starts the server on its port and directory (again) and waits
// until it accepts connections.
func (p *PostgresServer) Start(t testing.TB) {
	t.Helper()
	p.mustOwn(t)
	if p.cmd != nil {
		return
	}
	log, err := os.OpenFile(filepath.Join(p.dir, "server.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	defer log.Close() // the child holds its own copy
	cmd := p.command("postgres", "-D", p.data(), "-p", strconv.Itoa(p.port), "-k", p.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=100")
	cmd.Stdout, cmd.Stderr = log, log
	// If the test binary dies, the server goes too (SIGQUIT: immediate shutdown).
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	if err := cmd.Start(); err != nil {
		t.Fatalf("testserver: postgres: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	p.cmd, p.exited = cmd, exited

	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgconn.Connect(ctx, p.admin)
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return
		}
		select {
		case <-exited:
			p.cmd = nil
			t.Fatalf("testserver: postgres exited: %v\n%s", err, p.log())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("testserver: postgres not ready after 30s: %v\n%s", err, p.log())
		}
	}
}

func (p *PostgresServer) shutdown() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd = nil
}

func (p *PostgresServer) mustOwn(t testing.TB) {
	t.Helper()
	if p.external {
		t.Skip("testserver: SESSIOND_TEST_POSTGRES_URL names a server this test may not stop")
	}
}

func (p *PostgresServer) data() string { return filepath.Join(p.dir, "data") }

func (p *PostgresServer) log() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "server.log"))
	return string(b)
}

// command runs one of the server's binaries as the server's OS user.
func (p *PostgresServer) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(p.bin[name], args...)
	cmd.Dir = p.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	return cmd
}

func (p *PostgresServer) admExec(t testing.TB, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgconn.Connect(ctx, p.admin)
	if err != nil {
		t.Fatalf("testserver: connect to postgres: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql).ReadAll(); err != nil {
		t.Fatalf("testserver: %s: %v", sql, err)
	}
}

// postgresBinaries finds postgres and initdb in the newest
// /usr/lib/postgresql/<version>/bin (the Debian layout, where the server
// binaries are not on PATH), else on PATH.
func postgresBinaries(t testing.TB) map[string]string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	dirs = slices.DeleteFunc(dirs, func(d string) bool {
		return !fileExists(filepath.Join(d, "postgres")) || !fileExists(filepath.Join(d, "initdb"))
	})
	if len(dirs) == 0 {
		return map[string]string{"postgres": NeedBinary(t, "postgres"), "initdb": NeedBinary(t, "initdb")}
	}
	version := func(d string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(d)), 64)
		return v
	}
	newest := slices.MaxFunc(dirs, func(a, b string) int {
		if c := cmp.Compare(version(a), version(b)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return map[string]string{"postgres": filepath.Join(newest, "postgres"), "initdb": filepath.Join(newest, "initdb")}
}

// postgresUser returns the credentials of the "postgres" OS user.
func postgresUser(t testing.TB) *syscall.Credential {
	t.Helper()
	u, err := user.Lookup("postgres")
	if err != nil {
		msg := "testserver: PostgreSQL refuses to run as root and there is no postgres OS user"
		if InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}
