package testserver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RedisServer is a Redis server for one test: a throwaway redis-server, or
// the one SESSIOND_TEST_REDIS_URL names.
//
// The throwaway server keeps nothing across Stop and Start: it runs with
// --save "" and --appendonly no, because a test server has no data worth a
// disk write. A store must treat its restart like any Redis without
// persistence: sessions are gone, and the store works again by itself.
type RedisServer struct {
	// URL is redis://127.0.0.1:PORT/0 (or the override).
	URL string
	// Addr is host:port.
	Addr string

	node *redisNode // nil for an external server
}

// Redis starts a throwaway redis-server on a free loopback port, in a temp
// dir, as a child process (daemonize no), and stops it when the test ends.
func Redis(t testing.TB) *RedisServer {
	t.Helper()
	if u := os.Getenv("SESSIOND_TEST_REDIS_URL"); u != "" {
		return &RedisServer{URL: u}
	}
	n := newRedisNode(t)
	n.start(t)
	return &RedisServer{URL: "redis://" + n.addr() + "/0", Addr: n.addr(), node: n}
}

// Stop shuts the server down (SIGTERM; no data is saved). It skips the test
// on an external server, which is not ours to stop.
func (r *RedisServer) Stop(t testing.TB) {
	t.Helper()
	r.mustOwn(t)
	r.node.stop()
}

// Start starts the server again on the same port and directory and waits
// until it answers PING.
func (r *RedisServer) Start(t testing.TB) {
	t.Helper()
	r.mustOwn(t)
	r.node.start(t)
}

func (r *RedisServer) mustOwn(t testing.TB) {
	t.Helper()
	if r.node == nil {
		t.Skip("testserver: SESSIOND_TEST_REDIS_URL names a server this test may not stop")
	}
}

// RedisClusterServer is a Redis Cluster for one test: three masters
// without replicas (every slot served, the smallest real cluster), or the
// cluster SESSIOND_TEST_REDIS_CLUSTER_URL names.
type RedisClusterServer struct {
	// URL is redis+cluster://h1:p1,h2:p2,h3:p3.
	URL string
	// Addrs are the masters' host:port.
	Addrs []string
}

// RedisCluster starts three cluster-enabled redis-servers, joins them with
// redis-cli --cluster create, and waits until every node reports
// cluster_state:ok and knows the others. They stop when the test ends.
func RedisCluster(t testing.TB) *RedisClusterServer {
	t.Helper()
	if u := os.Getenv("SESSIOND_TEST_REDIS_CLUSTER_URL"); u != "" {
		hosts, _, _ := strings.Cut(strings.TrimPrefix(u, "redis+cluster://"), "/")
		return &RedisClusterServer{URL: u, Addrs: strings.Split(hosts, ",")}
	}
	var nodes []*redisNode
	c := &RedisClusterServer{}
	for range 3 {
		n := newRedisNode(t)
		// The cluster bus port defaults to port+10000, which may be taken
		// or out of range: give it a free port of its own.
		n.args = append(n.args, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(FreePort(t)), "--cluster-node-timeout", "5000")
		n.start(t)
		nodes = append(nodes, n)
		c.Addrs = append(c.Addrs, n.addr())
	}
	create := exec.Command(nodes[0].cli, append(append([]string{"--cluster", "create"}, c.Addrs...),
		"--cluster-replicas", "0", "--cluster-yes")...)
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("testserver: redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range nodes {
		for {
			info, err := n.cliOutput("CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") &&
				strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d", len(nodes))) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("testserver: redis cluster node %s not ready after 30s: %v\n%s", n.addr(), err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	c.URL = "redis+cluster://" + strings.Join(c.Addrs, ",")
	return c
}

// redisNode is one redis-server child process and its directory.
type redisNode struct {
	bin, cli string
	dir      string
	port     int
	args     []string

	cmd    *exec.Cmd
	exited chan struct{}
}

func newRedisNode(t testing.TB) *redisNode {
	t.Helper()
	n := &redisNode{bin: NeedBinary(t, "redis-server"), cli: NeedBinary(t, "redis-cli"), dir: t.TempDir(), port: FreePort(t)}
	n.args = []string{
		"--port", strconv.Itoa(n.port), "--bind", "127.0.0.1", "--daemonize", "no",
		"--save", "", "--appendonly", "no", "--dir", n.dir,
		"--logfile", filepath.Join(n.dir, "redis.log"),
	}
	t.Cleanup(n.stop)
	return n
}

func (n *redisNode) addr() string { return Addr(n.port) }

func (n *redisNode) start(t testing.TB) {
	t.Helper()
	if n.cmd != nil {
		return
	}
	cmd := exec.Command(n.bin, n.args...)
	cmd.Dir = n.dir
	// If the test binary dies, the server goes too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("testserver: redis-server: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	n.cmd, n.exited = cmd, exited

	deadline := time.Now().Add(15 * time.Second)
	for {
		out, err := n.cliOutput("PING")
		if err == nil && strings.TrimSpace(out) == "PONG" {
			return
		}
		select {
		case <-exited:
			n.cmd = nil
			t.Fatalf("testserver: redis-server exited at start:\n%s", n.log())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("testserver: redis-server did not answer PING on %s: %v %s\n%s", n.addr(), err, out, n.log())
		}
	}
}

// stop sends SIGTERM (with no save points, redis-server exits at once) and
// waits for the process.
func (n *redisNode) stop() {
	if n.cmd == nil {
		return
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(10 * time.Second):
		n.cmd.Process.Kill()
		<-n.exited
	}
	n.cmd = nil
}

// cliOutput runs one command through redis-cli against the node.
func (n *redisNode) cliOutput(args ...string) (string, error) {
	cmd := exec.Command(n.cli, append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(n.port)}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (n *redisNode) log() string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "redis.log"))
	return string(b)
}
