package testserver

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// MariaDBServer is a throwaway MariaDB server, or an external one named by
// SESSIOND_TEST_MYSQL_URL.
type MariaDBServer struct {
	// URL is a mysql:// URL for a database the tests own, as user sessiond
	// with a password full of URL-special characters, so the store's URL
	// parsing is exercised end to end.
	URL string

	t    testing.TB
	args []string // the mariadbd command line; nil for an external server
	addr string
	log  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// MariaDB starts a MariaDB server (mariadbd from the machine) in a temp dir
// on a free loopback port and stops it when the test ends. If
// SESSIOND_TEST_MYSQL_URL is set, that server is used instead (it may be
// MySQL 8), and Stop, Start, Pause and Resume skip the test: an outage test
// must never stop a server it does not own.
func MariaDB(t testing.TB) *MariaDBServer {
	t.Helper()
	if u := os.Getenv("SESSIOND_TEST_MYSQL_URL"); u != "" {
		return &MariaDBServer{URL: u, t: t}
	}
	daemon := NeedBinary(t, "mariadbd", "mysqld")
	install := NeedBinary(t, "mariadb-install-db", "mysql_install_db")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")

	// Small InnoDB files keep install and start-up under a second; the test
	// data is tiny. Root may run mariadbd only when it says so.
	tuning := []string{
		"--innodb-buffer-pool-size=32M",
		"--innodb-log-file-size=8M",
		"--innodb-flush-log-at-trx-commit=2",
		"--innodb-doublewrite=0",
		"--performance-schema=OFF",
		"--skip-name-resolve",
		"--skip-log-bin",
	}
	var user []string
	if os.Geteuid() == 0 {
		user = []string{"--user=root"}
	}
	installArgs := append([]string{"--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=normal", "--skip-test-db"}, user...)
	if out, err := exec.Command(install, append(installArgs, tuning...)...).CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}

	// The init file runs at every start: it creates the test user and
	// database once (IF NOT EXISTS) and is harmless on a restart. The
	// database keeps the server's default character set (latin1 here), so
	// the store's tables must name theirs.
	password := "p@ss:w/rd?#%" + mariadbSecret(6)
	init := filepath.Join(dir, "init.sql")
	sql := fmt.Sprintf(`CREATE DATABASE IF NOT EXISTS sessiond;
CREATE USER IF NOT EXISTS 'sessiond'@'127.0.0.1' IDENTIFIED BY '%s';
GRANT ALL ON *.* TO 'sessiond'@'127.0.0.1';
`, password)
	if err := os.WriteFile(init, []byte(sql), 0o600); err != nil {
		t.Fatal(err)
	}

	port := FreePort(t)
	s := &MariaDBServer{
		t:    t,
		addr: Addr(port),
		log:  filepath.Join(dir, "error.log"),
		URL: (&url.URL{
			Scheme: "mysql",
			User:   url.UserPassword("sessiond", password),
			Host:   Addr(port),
			Path:   "/sessiond",
		}).String(),
	}
	s.args = append(append([]string{daemon, "--no-defaults",
		"--datadir=" + data,
		"--port=" + strconv.Itoa(port),
		"--bind-address=127.0.0.1",
		"--socket=" + filepath.Join(dir, "mariadb.sock"),
		"--pid-file=" + filepath.Join(dir, "mariadb.pid"),
		"--log-error=" + s.log,
		"--init-file=" + init,
	}, user...), tuning...)
	s.Start()
	t.Cleanup(s.stop)
	return s
}

// Start starts the server again on the same port and data directory, and
// returns once it answers connections.
func (s *MariaDBServer) Start() {
	s.t.Helper()
	s.needOwn()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.t.Fatal("testserver: MariaDB is already running")
	}
	var out bytes.Buffer
	cmd := exec.Command(s.args[0], s.args[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &out
	// A test binary that dies (a panic, a -timeout) takes the server along.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("mariadbd: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited

	for deadline := time.Now().Add(30 * time.Second); !mysqlGreets(s.addr); {
		select {
		case <-exited:
			logs, _ := os.ReadFile(s.log)
			s.cmd = nil
			s.t.Fatalf("mariadbd exited at start:\n%s\n%s", out.String(), logs)
		default:
		}
		if time.Now().After(deadline) {
			logs, _ := os.ReadFile(s.log)
			s.t.Fatalf("mariadbd did not answer on %s:\n%s", s.addr, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop shuts the server down (SIGTERM: a clean shutdown that keeps every
// committed row) and waits until it has exited.
func (s *MariaDBServer) Stop() {
	s.t.Helper()
	s.needOwn()
	s.stop()
}

// Pause freezes the server (SIGSTOP): it still accepts TCP connections but
// answers nothing, like a hung host, which a store must not wait on
// forever.
func (s *MariaDBServer) Pause() {
	s.signal(syscall.SIGSTOP)
	s.mu.Lock()
	pid := s.cmd.Process.Pid
	s.mu.Unlock()
	waitStopped(s.t, pid)
}

// waitStopped returns once every thread of pid is stopped: SIGSTOP takes
// effect asynchronously, and a thread still running could answer a query
// that the test expects to hang.
func waitStopped(t testing.TB, pid int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
		stopped := len(tasks) > 0
		for _, task := range tasks {
			b, err := os.ReadFile(task)
			// The state follows the command name, which is in parentheses.
			if i := bytes.LastIndexByte(b, ')'); err != nil || i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
				stopped = false
				break
			}
		}
		if stopped {
			return
		}
	}
	t.Fatalf("testserver: process %d did not stop", pid)
}

// Resume thaws a paused server (SIGCONT).
func (s *MariaDBServer) Resume() { s.signal(syscall.SIGCONT) }

func (s *MariaDBServer) signal(sig syscall.Signal) {
	s.t.Helper()
	s.needOwn()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		s.t.Fatal("testserver: MariaDB is not running")
	}
	s.cmd.Process.Signal(sig)
}

func (s *MariaDBServer) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGCONT) // a paused server cannot shut down
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

func (s *MariaDBServer) needOwn() {
	s.t.Helper()
	if s.args == nil {
		s.t.Skip("testserver: SESSIOND_TEST_MYSQL_URL names an external server; this test stops and starts its own")
	}
}

// greets reports whether a MySQL server at addr sends its handshake: the
// port accepts connections a little before the server is ready to serve.
func mysqlGreets(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(time.Second))
	// A packet header (3 bytes length, 1 byte sequence) and the protocol
	// version 10; an error packet (0xff) means "not ready" or "refused".
	var b [5]byte
	_, err = io.ReadFull(c, b[:])
	return err == nil && b[4] == 10
}

func mariadbSecret(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
