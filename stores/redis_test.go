package stores

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/storeop"
	"github.com/sessiond/sessiond/internal/testserver"
	"github.com/sessiond/sessiond/stores/redis"
)

func TestRedisURL(t *testing.T) {
	for _, tc := range []struct {
		url       string
		addrs     []string
		cluster   bool
		opts      redis.Options
		db        int
		dial      time.Duration
		multiplex int
	}{
		{"redis://127.0.0.1:6380/2", []string{"127.0.0.1:6380"}, false, redis.Options{CloseClient: true}, 2, storeop.DefaultTimeout, 0},
		{"redis://h", []string{"h:6379"}, false, redis.Options{CloseClient: true}, 0, storeop.DefaultTimeout, 0},
		{"redis://h/?db=3&dial_timeout=1s", []string{"h:6379"}, false, redis.Options{CloseClient: true}, 3, time.Second, 0},
		{"rediss://u:p%40ss@h:1/?prefix=app:sess:&op_timeout=500ms", []string{"h:1"}, false,
			redis.Options{KeyPrefix: "app:sess:", OpTimeout: 500 * time.Millisecond, CloseClient: true}, 0, 500 * time.Millisecond, 0},
		{"redis://h:1?timeout=700ms", []string{"h:1"}, false, redis.Options{OpTimeout: 700 * time.Millisecond, CloseClient: true}, 0, 700 * time.Millisecond, 0},
		{"redis+cluster://h1:1,h2,h3:3", []string{"h1:1", "h2:6379", "h3:3"}, true, redis.Options{CloseClient: true}, 0, storeop.DefaultTimeout, 0},
		{"redis+cluster://[::1]:7000", []string{"[::1]:7000"}, true, redis.Options{CloseClient: true}, 0, storeop.DefaultTimeout, 0},
		{"rediss+cluster://u:p@h1:1,h2:2/?pipeline_multiplex=1", []string{"h1:1", "h2:2"}, true, redis.Options{CloseClient: true}, 0, storeop.DefaultTimeout, 1},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		r, err := parseRedisURL(u)
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		o := r.client
		if fmt.Sprint(o.InitAddress) != fmt.Sprint(tc.addrs) || r.cluster != tc.cluster || r.store != tc.opts || o.SelectDB != tc.db ||
			o.Dialer.Timeout != tc.dial || o.PipelineMultiplex != tc.multiplex || o.ConnWriteTimeout != redisWriteTimeout {
			t.Errorf("%s: addrs %v cluster %v options %+v db %d dial %v multiplex %d write %v", tc.url, o.InitAddress, r.cluster, r.store, o.SelectDB, o.Dialer.Timeout, o.PipelineMultiplex, o.ConnWriteTimeout)
		}
		if strings.HasPrefix(tc.url, "rediss") != (o.TLSConfig != nil) {
			t.Errorf("%s: TLS %v", tc.url, o.TLSConfig != nil)
		}
		if u.String() != tc.url {
			t.Errorf("the caller's URL changed: %s", u)
		}
	}
	u, _ := url.Parse("redis://u:pw@h/?write_timeout=1s&protocol=2&client_cache=0&max_retries=0&client_name=shop")
	r, err := parseRedisURL(u)
	if err != nil {
		t.Fatal(err)
	}
	if o := r.client; o.ConnWriteTimeout != time.Second || !o.AlwaysRESP2 || !o.DisableCache || !o.DisableRetry || o.ClientName != "shop" || o.Username != "u" || o.Password != "pw" {
		t.Fatalf("rueidis's parameters not passed on: %+v", o)
	}
}

func TestRedisURLRefuses(t *testing.T) {
	for _, bad := range []string{
		"http://h", "redis+sentinel://h", "redis://h1,h2", "redis://h/?pool=3", "redis://h/?prefix={x}", "redis://h/?prefix=",
		"redis://h/?op_timeout=soon", "redis://h/?timeout=0s", "redis://h/?op_timeout=-1s", "redis+cluster://h1,h2/3",
		"redis://h/x/y", "redis://h/?pipeline_multiplex=9", "redis://h/?db=x",
	} {
		u, err := url.Parse(bad)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseRedisURL(u); err == nil {
			t.Errorf("parseRedisURL(%q) succeeded", bad)
		}
	}
	// A password never appears in an error.
	for _, bad := range []string{"redis://u:s3cret@h/?nope=1", "redis://u:s3cret@h/x/y", "redis+cluster://u:s3cret@h1,h2/2"} {
		u, _ := url.Parse(bad)
		if _, err := parseRedisURL(u); err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: error %v", bad, err)
		}
	}
}

// stores.Open on a real server and a real cluster: the store works, Close
// closes the client it made, and a cluster URL naming a server that is not
// in cluster mode is refused.
func TestOpenRedis(t *testing.T) {
	ctx := t.Context()
	keys, err := sessiond.NewKeyring([]byte("stores redis test, a secret of 32 bytes or more"))
	if err != nil {
		t.Fatal(err)
	}
	srv := testserver.Redis(t)
	cluster := testserver.RedisCluster(t)
	for _, raw := range []string{srv.URL + "?prefix=opened:&op_timeout=1s", cluster.URL} {
		s, err := Open(ctx, raw)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		m := sessiond.NewManager(s, keys, sessiond.Config{})
		tok, _, err := m.Create(ctx, sessiond.NewSession{UserID: "opened"})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := m.Validate(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Ping(ctx); err == nil {
			t.Fatalf("%s: Ping after Close succeeded: the client it made is still open", raw)
		}
	}
	if srv.Addr != "" {
		if _, err := Open(ctx, "redis+cluster://"+srv.Addr); err == nil || !strings.Contains(err.Error(), "not in cluster mode") {
			t.Fatalf("a cluster URL on a standalone server: %v", err)
		}
	}
	start := time.Now()
	_, err = Open(context.Background(), fmt.Sprintf("redis://127.0.0.1:%d/?op_timeout=300ms", testserver.FreePort(t)))
	if err == nil || errors.Is(err, context.Canceled) || time.Since(start) > 3*time.Second {
		t.Fatalf("nothing listening: %v after %v", err, time.Since(start))
	}
}
