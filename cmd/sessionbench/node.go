package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// fleet is sessiond built from this checkout, and the nodes started from
// it, all sharing one store and one set of keys, as a deployment's nodes
// do.
type fleet struct {
	dir      string // binary, data directories, logs
	bin      string
	storeURL string
	env      []string // the shared secrets
	nodes    []*node
}

// node is one `sessiond serve` process.
type node struct {
	name   string
	base   string // http://host:port
	log    string
	cmd    *exec.Cmd
	exited chan struct{}
}

// newFleet builds sessiond (`go build`, from the module this command is
// part of) into a temporary directory.
func newFleet(ctx context.Context, storeURL string) (*fleet, error) {
	dir, err := os.MkdirTemp("", "sessionbench-")
	if err != nil {
		return nil, err
	}
	f := &fleet{dir: dir, bin: filepath.Join(dir, "sessiond"), storeURL: storeURL}
	build := exec.CommandContext(ctx, "go", "build", "-o", f.bin, "github.com/sessiond/sessiond/cmd/sessiond")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("building sessiond: %w", err)
	}
	// Nodes sharing a store share their keys (see `sessiond serve -h`).
	secret, tokenKey := make([]byte, 32), make([]byte, 32)
	rand.Read(secret)
	rand.Read(tokenKey)
	f.env = []string{
		"SESSIOND_SECRET=" + base64.StdEncoding.EncodeToString(secret),
		"SESSIOND_TOKEN_KEY=" + hex.EncodeToString(tokenKey),
	}
	return f, nil
}

// start starts a node with the given extra serve flags and waits until it
// is ready. Its log goes to a file in the fleet's directory.
func (f *fleet) start(ctx context.Context, extra ...string) (*node, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	n := &node{name: "node" + strconv.Itoa(len(f.nodes)+1), exited: make(chan struct{})}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	n.base = "http://" + addr
	n.log = filepath.Join(f.dir, n.name+".log")
	logFile, err := os.Create(n.log)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	args := append([]string{"serve",
		"--addr", addr,
		"--store", f.storeURL,
		"--data-dir", filepath.Join(f.dir, n.name),
	}, extra...)
	n.cmd = exec.Command(f.bin, args...)
	n.cmd.Env = append(os.Environ(), f.env...)
	n.cmd.Stdout, n.cmd.Stderr = logFile, logFile
	if err := n.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { n.cmd.Wait(); close(n.exited) }()
	f.nodes = append(f.nodes, n)
	return n, n.waitReady(ctx)
}

func (n *node) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.base+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-n.exited:
			return fmt.Errorf("%s exited at start:\n%s", n.name, n.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready within 30s:\n%s", n.name, n.logTail())
}

func (n *node) logTail() string {
	b, _ := os.ReadFile(n.log)
	return tail(string(b), 10)
}

// metric reads one unlabelled value from the node's GET /metrics.
func (n *node) metric(ctx context.Context, name string) (float64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.base+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("%s: no metric %s", n.name, name)
}

// apiKey creates an API key with `sessiond apikey create`, which prints it
// alone on its last line.
func (f *fleet) apiKey(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, f.bin, "apikey", "create", "--name", "sessionbench",
		"--store", f.storeURL, "--data-dir", filepath.Join(f.dir, "admin"))
	cmd.Env = append(os.Environ(), f.env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("sessiond apikey create: %w: %s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1]), nil
}

// Close stops every node (SIGTERM, as a deployment would) and removes the
// fleet's directory.
func (f *fleet) Close() {
	for _, n := range f.nodes {
		stopProcess(n.cmd, n.exited)
	}
	os.RemoveAll(f.dir)
}
