// Package testserver starts throwaway database servers for tests, from the
// binaries on the machine, on free loopback ports in temporary directories.
//
// A test asks for a server with one call (Redis, RedisCluster, Postgres,
// MariaDB). If the matching SESSIOND_TEST_*_URL variable is set, that server
// is used instead. If a binary is missing the test is skipped loudly — or,
// under CI=true, fails: CI must never pass by testing nothing.
package testserver

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true), where a missing
// server binary is a failure rather than a skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// NeedBinary returns the path of a binary, or skips (fails under CI).
func NeedBinary(t testing.TB, name string, alternatives ...string) string {
	t.Helper()
	for _, n := range append([]string{name}, alternatives...) {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
		for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
			if p := dir + "/" + n; fileExists(p) {
				return p
			}
		}
	}
	if InCI() {
		t.Fatalf("testserver: %s is not installed; CI requires it", name)
	}
	t.Skipf("testserver: SKIPPING — %s is not installed (set CI=true to make this a failure)", name)
	return ""
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testserver: no free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Addr formats a loopback address.
func Addr(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
