package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/rueidis"
)

// redisServer is a throwaway redis-server on a free loopback port, in a
// temporary directory, without persistence: nothing it holds outlives the
// run, and no disk write disturbs the timings.
type redisServer struct {
	addr   string
	dir    string
	cmd    *exec.Cmd
	exited chan struct{}
	client rueidis.Client // the bench's own connection, for INFO and admin commands
}

func startRedis(ctx context.Context) (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server is not installed: %w", err)
	}
	dir, err := os.MkdirTemp("", "sessionbench-redis-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	r := &redisServer{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir, exited: make(chan struct{})}
	r.cmd = exec.Command(bin,
		"--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--dir", dir, "--save", "", "--appendonly", "no",
		"--logfile", filepath.Join(dir, "redis.log"))
	if err := r.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	go func() { r.cmd.Wait(); close(r.exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.client, err = rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{r.addr}, DisableCache: true})
		if err == nil {
			break
		}
		select {
		case <-r.exited:
			r.Close()
			return nil, fmt.Errorf("redis-server exited at start; see its log: %s", r.logTail())
		case <-ctx.Done():
			r.Close()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.Close()
			return nil, fmt.Errorf("redis-server did not answer within 10s: %w", err)
		}
	}
	return r, nil
}

// URL is the store URL of the server for sessiond.
func (r *redisServer) URL() string { return "redis://" + r.addr }

// Close stops the server and removes its directory.
func (r *redisServer) Close() {
	if r.client != nil {
		r.client.Close()
	}
	stopProcess(r.cmd, r.exited)
	os.RemoveAll(r.dir)
}

func (r *redisServer) logTail() string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
	return tail(string(b), 5)
}

// do runs one command on the bench's own connection.
func (r *redisServer) do(ctx context.Context, args ...string) rueidis.RedisResult {
	return r.client.Do(ctx, r.client.B().Arbitrary(args[0]).Args(args[1:]...).Build())
}

// info returns the fields of an INFO section.
func (r *redisServer) info(ctx context.Context, section string) (map[string]string, error) {
	s, err := r.do(ctx, "INFO", section).ToString()
	if err != nil {
		return nil, err
	}
	fields := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":"); ok && !strings.HasPrefix(k, "#") {
			fields[k] = v
		}
	}
	return fields, nil
}

func (r *redisServer) infoInt(ctx context.Context, section, field string) (int64, error) {
	fields, err := r.info(ctx, section)
	if err != nil {
		return 0, err
	}
	v, ok := fields[field]
	if !ok {
		return 0, fmt.Errorf("INFO %s has no %s", section, field)
	}
	return strconv.ParseInt(v, 10, 64)
}

// commandStats returns how many times each command has run, from INFO
// commandstats. Redis counts the commands a Lua script calls too, under
// their own names, so a script's writes show up as SET, ZADD and so on
// next to its EVALSHA.
func (r *redisServer) commandStats(ctx context.Context) (map[string]int64, error) {
	fields, err := r.info(ctx, "commandstats")
	if err != nil {
		return nil, err
	}
	calls := map[string]int64{}
	for k, v := range fields {
		name, ok := strings.CutPrefix(k, "cmdstat_")
		if !ok {
			continue
		}
		for _, kv := range strings.Split(v, ",") {
			if n, ok := strings.CutPrefix(kv, "calls="); ok {
				calls[name], _ = strconv.ParseInt(n, 10, 64)
			}
		}
	}
	return calls, nil
}

// writeCommands reports which of names Redis flags "write" (COMMAND INFO),
// so that writes are counted by what Redis says a command does rather than
// by a list kept here.
func (r *redisServer) writeCommands(ctx context.Context, names []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(names) == 0 {
		return out, nil
	}
	args := append([]string{"COMMAND", "INFO"}, names...)
	entries, err := r.do(ctx, args...).ToArray()
	if err != nil {
		return nil, err
	}
	for i, e := range entries {
		fields, err := e.ToArray()
		if err != nil || len(fields) < 3 {
			continue // an unknown name answers nil
		}
		flags, _ := fields[2].AsStrSlice()
		for _, f := range flags {
			if f == "write" {
				out[names[i]] = true
			}
		}
	}
	return out, nil
}

// storeCalls is what a window of Redis activity amounted to, from two
// INFO commandstats snapshots.
type storeCalls struct {
	// Calls counts every command a client sent (scripts count once; the
	// commands inside them are not calls), without the bench's own INFO
	// and COMMAND and the clients' keep-alive PINGs.
	Calls int64 `json:"calls"`
	// Writes counts the write commands run, inside scripts included.
	Writes int64 `json:"writes"`
	// ByCommand is every command that ran, including those inside scripts.
	ByCommand map[string]int64 `json:"by_command"`
}

// The commands that Redis counts but that are no store call of a request:
// the bench's own, and the keep-alive pings of idle connections.
var notStoreCalls = map[string]bool{"info": true, "command|info": true, "command": true, "ping": true}

// scriptCommands are the commands clients send to run scripts; the
// commands a script calls are counted separately by Redis.
var scriptCommands = map[string]bool{"evalsha": true, "evalsha_ro": true, "eval": true, "eval_ro": true, "fcall": true, "fcall_ro": true}

// callsBetween diffs two commandstats snapshots.
func (r *redisServer) callsBetween(ctx context.Context, before, after map[string]int64) (storeCalls, error) {
	c := storeCalls{ByCommand: map[string]int64{}}
	var names []string
	for name, n := range after {
		if d := n - before[name]; d > 0 && !notStoreCalls[name] {
			c.ByCommand[name] = d
			names = append(names, name)
		}
	}
	writes, err := r.writeCommands(ctx, names)
	if err != nil {
		return c, err
	}
	for name, n := range c.ByCommand {
		if writes[name] {
			c.Writes += n
		}
		if scriptCommands[name] || !calledByScripts[name] {
			c.Calls += n
		}
	}
	return c, nil
}

// calledByScripts are the commands the redis store's scripts call; the
// store sends none of them on its own on the paths measured here, so they
// are not client calls. (A command missing from this list would be counted
// as a call: an over-count, never an under-count.)
var calledByScripts = map[string]bool{
	"get": true, "set": true, "hget": true, "hmget": true, "hset": true, "del": true,
	"zadd": true, "zrem": true, "zrange": true, "zcard": true, "zremrangebyscore": true,
	"pexpiretime": true, "pexpireat": true, "publish": true, "time": true,
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// stopProcess asks a process to stop (SIGTERM), and kills it if it has not
// within 5 s. exited is closed by the goroutine that waits for it.
func stopProcess(cmd *exec.Cmd, exited <-chan struct{}) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
