package stores

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testserver"
	"github.com/sessiond/sessiond/stores/postgres"
)

// sessiond's own parameters become postgres.Options and are taken out of
// what pgx sees (the server would refuse them as unknown settings); pgx's
// are honoured.
func TestPostgresURL(t *testing.T) {
	raw := "postgres://u:secret@db.example:5433/app?op_timeout=750ms&sweep_interval=-1s&notify_channel=deployment_a" +
		"&pool_max_conns=3&application_name=shop&sslmode=disable"
	u, _ := url.Parse(raw)
	cfg, opts, err := parsePostgresURL(u)
	if err != nil {
		t.Fatal(err)
	}
	if u.String() != raw {
		t.Fatalf("the caller's URL changed: %s", u)
	}
	want := postgres.Options{OpTimeout: 750 * time.Millisecond, SweepInterval: -time.Second, NotifyChannel: "deployment_a", CloseClient: true}
	if opts != want {
		t.Fatalf("options = %+v, want %+v", opts, want)
	}
	cc := cfg.ConnConfig
	if cc.Host != "db.example" || cc.Port != 5433 || cc.Database != "app" || cc.User != "u" || cc.Password != "secret" || cfg.MaxConns != 3 {
		t.Fatalf("pgx config: %s@%s:%d/%s, max conns %d", cc.User, cc.Host, cc.Port, cc.Database, cfg.MaxConns)
	}
	if cc.RuntimeParams["application_name"] != "shop" {
		t.Fatalf("runtime params %v: want application_name kept", cc.RuntimeParams)
	}
	for _, own := range []string{"op_timeout", "sweep_interval", "notify_channel"} {
		if _, ok := cc.RuntimeParams[own]; ok {
			t.Fatalf("%s reached pgx: %v", own, cc.RuntimeParams)
		}
	}
	if cc.ConnectTimeout != 750*time.Millisecond {
		t.Fatalf("connect timeout %v, want op_timeout's 750ms", cc.ConnectTimeout)
	}

	// Defaults: zero options (the store's defaults); connect_timeout is
	// the default op timeout unless given.
	u, _ = url.Parse("postgresql://u@localhost/app")
	cfg, opts, err = parsePostgresURL(u)
	if err != nil || opts != (postgres.Options{CloseClient: true}) || cfg.ConnConfig.ConnectTimeout != 2*time.Second {
		t.Fatalf("defaults: %+v, connect timeout %v, %v", opts, cfg.ConnConfig.ConnectTimeout, err)
	}
	u, _ = url.Parse("postgres://u@localhost/app?connect_timeout=5&op_timeout=1s")
	if cfg, _, err = parsePostgresURL(u); err != nil || cfg.ConnConfig.ConnectTimeout != 5*time.Second {
		t.Fatalf("connect_timeout=5: %v, %v", cfg.ConnConfig.ConnectTimeout, err)
	}
}

func TestOpenPostgres(t *testing.T) {
	ctx := t.Context()
	for _, bad := range []string{
		"postgres://u:secret@127.0.0.1/db?op_timeout=soon",
		"postgres://u:secret@127.0.0.1/db?op_timeout=0s",
		"postgres://u:secret@127.0.0.1/db?op_timeout=-1s",
		"postgres://u:secret@127.0.0.1/db?op_timeout=",
		"postgres://u:secret@127.0.0.1/db?sweep_interval=often",
		"postgres://u:secret@127.0.0.1/db?pool_max_conns=none",
		"postgres://u:secret@127.0.0.1:1/db?connect_timeout=1", // nobody listens
		"postgres://u:secret@127.0.0.1:1/db?op_timeout=300ms",  // nobody listens
	} {
		start := time.Now()
		s, err := Open(ctx, bad)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", bad)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q): the error shows the password: %v", bad, err)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("Open(%q) took %v", bad, took)
		}
	}
	for _, bad := range []string{"a-b", `"x"`, "x%00y", "%C3%BC", "sess.inv", strings.Repeat("a", 64)} {
		s, err := Open(ctx, "postgres://u:secret@127.0.0.1:1/db?notify_channel="+bad)
		if err == nil {
			s.Close()
			t.Errorf("notify_channel=%s accepted", bad)
			continue
		}
		if !strings.Contains(err.Error(), "NotifyChannel") {
			t.Errorf("notify_channel=%s: %v", bad, err)
		}
	}

	srv := testserver.Postgres(t)
	sep := "?"
	if strings.Contains(srv.URL, "?") {
		sep = "&"
	}
	for _, u := range []string{
		srv.URL + sep + "sweep_interval=10s&op_timeout=1s&pool_max_conns=3&application_name=sessiond-test&notify_channel=x_1",
		strings.Replace(srv.URL, "postgres://", "postgresql://", 1),
	} {
		s, err := Open(ctx, u)
		if err != nil {
			t.Fatalf("Open(%q): %v", u, err)
		}
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Open(%q): Ping: %v", u, err)
		}
		s.Close()
		// The store made the pool, so Close closed it.
		if err := s.Ping(context.Background()); err == nil {
			t.Fatalf("Open(%q): Ping after Close succeeded", u)
		}
	}
}
