package testserver

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Nginx runs nginx in the foreground with config (a complete nginx.conf) in
// a temp dir, until the test ends. It returns once the listen address
// accepts connections.
func Nginx(t testing.TB, config, listenAddr string) {
	t.Helper()
	bin := NeedBinary(t, "nginx")
	dir := t.TempDir()
	conf := filepath.Join(dir, "nginx.conf")
	// Keep nginx's own files in the temp dir, never in /var.
	prelude := "daemon off;\npid " + filepath.Join(dir, "nginx.pid") + ";\nerror_log " + filepath.Join(dir, "error.log") + " info;\n"
	if err := os.WriteFile(conf, []byte(prelude+config), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	start(t, "nginx", listenAddr, filepath.Join(dir, "error.log"), exec.Command(bin, "-p", dir+"/", "-c", conf, "-e", filepath.Join(dir, "error.log")))
}

// Caddy runs caddy with caddyfile until the test ends.
func Caddy(t testing.TB, caddyfile, listenAddr string) {
	t.Helper()
	bin := NeedBinary(t, "caddy")
	dir := t.TempDir()
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(caddyfile), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", path, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	start(t, "caddy", listenAddr, "", cmd)
}

func start(t testing.TB, name, addr, logFile string, cmd *exec.Cmd) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	for deadline := time.Now().Add(15 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			logs, _ := os.ReadFile(logFile)
			t.Fatalf("%s exited at start:\n%s\n%s", name, out.String(), logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %s:\n%s", name, addr, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
