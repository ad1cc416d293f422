package stores

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testserver"
	"github.com/sessiond/sessiond/stores/mysql"
)

// sessiond's own parameters become the pool's settings and mysql.Options
// and are taken out of what the driver sees (it would set them as session
// variables); the driver's are honoured.
func TestMySQLURL(t *testing.T) {
	raw := "mysql://app:p%40ss%3Aw%2Frd%3F@db.example:3307/sessions"
	u, _ := url.Parse(raw)
	cfg, pool, opts, err := parseMySQLURL(u)
	if err != nil {
		t.Fatal(err)
	}
	if u.String() != raw {
		t.Fatalf("the caller's URL changed: %s", u)
	}
	if cfg.User != "app" || cfg.Passwd != "p@ss:w/rd?" || cfg.Net != "tcp" || cfg.Addr != "db.example:3307" || cfg.DBName != "sessions" {
		t.Fatalf("config = %s@%s(%s)/%s", cfg.User, cfg.Net, cfg.Addr, cfg.DBName)
	}
	if !cfg.InterpolateParams || cfg.Timeout != 2*time.Second {
		t.Fatalf("driver defaults: interpolateParams %v, timeout %s", cfg.InterpolateParams, cfg.Timeout)
	}
	if pool != (mysqlPool{maxOpen: 10, maxIdle: 10, maxLifetime: 3 * time.Minute}) {
		t.Fatalf("default pool = %+v", pool)
	}
	if opts != (mysql.Options{CloseClient: true}) {
		t.Fatalf("default options = %+v, want the store's defaults and CloseClient", opts)
	}

	// The store's parameters are taken out; the driver's go to the driver,
	// overriding defaults, whatever they are (the store depends on none).
	u, _ = url.Parse("mysql://u@[::1]/db?max_open_conns=4&conn_max_lifetime=1m&op_timeout=500ms&sweep_interval=-1s" +
		"&tls=skip-verify&readTimeout=5s&interpolateParams=false&parseTime=true&clientFoundRows=true&loc=Europe%2FParis&sql_mode=%27TRADITIONAL%27")
	cfg, pool, opts, err = parseMySQLURL(u)
	if err != nil {
		t.Fatal(err)
	}
	if pool != (mysqlPool{maxOpen: 4, maxIdle: 4, maxLifetime: time.Minute}) {
		t.Fatalf("pool = %+v", pool)
	}
	if opts != (mysql.Options{OpTimeout: 500 * time.Millisecond, SweepInterval: -time.Second, CloseClient: true}) {
		t.Fatalf("options = %+v", opts)
	}
	if cfg.Addr != "[::1]:3306" || cfg.TLS == nil || cfg.ReadTimeout != 5*time.Second || cfg.Params["sql_mode"] != "'TRADITIONAL'" ||
		cfg.InterpolateParams || !cfg.ParseTime || !cfg.ClientFoundRows || cfg.Loc.String() != "Europe/Paris" || cfg.Timeout != 500*time.Millisecond {
		t.Fatalf("driver parameters: addr %s tls %v read %s params %v interpolate %v parseTime %v loc %v timeout %s",
			cfg.Addr, cfg.TLS, cfg.ReadTimeout, cfg.Params, cfg.InterpolateParams, cfg.ParseTime, cfg.Loc, cfg.Timeout)
	}
	for _, k := range []string{"max_open_conns", "conn_max_lifetime", "op_timeout", "sweep_interval", "max_idle_conns", "socket"} {
		if _, ok := cfg.Params[k]; ok {
			t.Fatalf("store parameter %s reached the driver", k)
		}
	}

	u, _ = url.Parse("mysql://u:p@/db?socket=/run/mysqld/mysqld.sock&max_idle_conns=0")
	cfg, pool, _, err = parseMySQLURL(u)
	if err != nil || cfg.Net != "unix" || cfg.Addr != "/run/mysqld/mysqld.sock" || pool.maxIdle != 0 {
		t.Fatalf("socket: %v %+v %+v", err, cfg, pool)
	}
}

func TestMySQLURLRefuses(t *testing.T) {
	for _, bad := range []string{
		"mysql://u:secret@h",
		"mysql://u:secret@h/",
		"mysql://u:secret@h/a/b",
		"mysql://u:secret@h/db?max_open_conns=many",
		"mysql://u:secret@h/db?max_open_conns=0",
		"mysql://u:secret@h/db?op_timeout=soon",
		"mysql://u:secret@h/db?op_timeout=0s",
		"mysql://u:secret@h/db?sweep_interval=often",
		"mysql://u:secret@h/db?tls=no-such-config",
		"mysql://u:secret@h/db?readTimeout=long",
		"mysql://u:secret%zz@h/db",
	} {
		// Open refuses them all before dialling anything.
		s, err := Open(t.Context(), bad)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", bad)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q): the error shows the password: %v", bad, err)
		}
	}
}

// Open makes a pool from the URL (the test server's password is full of
// URL-special characters), and the store closes that pool with itself.
// A server that is not there fails within op_timeout.
func TestOpenMySQL(t *testing.T) {
	srv := testserver.MariaDB(t)
	s, err := Open(t.Context(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	m := sessiond.NewManager(s, mysqlTestKeys(t), sessiond.Config{})
	tok, _, err := m.Create(t.Context(), sessiond.NewSession{UserID: "open-mysql"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Validate(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(t.Context()); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Ping after Close = %v; want the pool closed with the store", err)
	}

	start := time.Now()
	_, err = Open(t.Context(), "mysql://u:secret@127.0.0.1:1/db?op_timeout=500ms")
	var domain *sessiond.Error
	if err == nil || errors.As(err, &domain) || strings.Contains(err.Error(), "secret") || time.Since(start) > 2*time.Second {
		t.Fatalf("Open(no server) = %v after %s", err, time.Since(start))
	}
}

func mysqlTestKeys(t *testing.T) *sessiond.Keyring {
	t.Helper()
	kr, err := sessiond.NewKeyring([]byte("stores test secret, 32 bytes or more, not for production"))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}
