package mysql

import (
	"strings"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	cfg, opts, err := parseURL("mysql://app:p%40ss%3Aw%2Frd%3F@db.example:3307/sessions")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.User != "app" || cfg.Passwd != "p@ss:w/rd?" || cfg.Net != "tcp" || cfg.Addr != "db.example:3307" || cfg.DBName != "sessions" {
		t.Fatalf("config = %s@%s(%s)/%s", cfg.User, cfg.Net, cfg.Addr, cfg.DBName)
	}
	if !cfg.ParseTime || cfg.Loc != time.UTC || cfg.ClientFoundRows || !cfg.InterpolateParams || cfg.Collation != "utf8mb4_bin" {
		t.Fatalf("fixed settings: %+v", cfg)
	}
	if cfg.Timeout != defaultDialTimeout || cfg.ReadTimeout != defaultIOTimeout || cfg.WriteTimeout != defaultIOTimeout {
		t.Fatalf("timeouts = %s/%s/%s", cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout)
	}
	if opts.maxOpenConns != 10 || opts.maxIdleConns != 10 || opts.connMaxLifetime != 3*time.Minute ||
		opts.opTimeout != 2*time.Second || opts.sweepInterval != time.Minute {
		t.Fatalf("default options = %+v", opts)
	}

	// The store's parameters are taken out; the driver's go to the driver,
	// overriding defaults, except what the store relies on.
	cfg, opts, err = parseURL("mysql://u@[::1]/db?max_open_conns=4&conn_max_lifetime=1m&op_timeout=500ms&sweep_interval=0" +
		"&tls=skip-verify&readTimeout=5s&parseTime=false&clientFoundRows=true&loc=Europe%2FParis&sql_mode=%27TRADITIONAL%27")
	if err != nil {
		t.Fatal(err)
	}
	if opts.maxOpenConns != 4 || opts.maxIdleConns != 4 || opts.connMaxLifetime != time.Minute ||
		opts.opTimeout != 500*time.Millisecond || opts.sweepInterval != 0 {
		t.Fatalf("options = %+v", opts)
	}
	if cfg.Addr != "[::1]:3306" || cfg.TLS == nil || cfg.ReadTimeout != 5*time.Second || cfg.Params["sql_mode"] != "'TRADITIONAL'" {
		t.Fatalf("driver parameters: addr %s tls %v read %s params %v", cfg.Addr, cfg.TLS, cfg.ReadTimeout, cfg.Params)
	}
	if !cfg.ParseTime || cfg.Loc != time.UTC || cfg.ClientFoundRows {
		t.Fatal("parseTime, loc and clientFoundRows must stay fixed")
	}
	for _, k := range []string{"max_open_conns", "conn_max_lifetime", "op_timeout", "sweep_interval"} {
		if _, ok := cfg.Params[k]; ok {
			t.Fatalf("store parameter %s reached the driver", k)
		}
	}

	cfg, _, err = parseURL("mysql://u:p@/db?socket=/run/mysqld/mysqld.sock&max_idle_conns=0")
	if err != nil || cfg.Net != "unix" || cfg.Addr != "/run/mysqld/mysqld.sock" {
		t.Fatalf("socket: %v %+v", err, cfg)
	}
}

func TestParseURLRefuses(t *testing.T) {
	for _, bad := range []string{
		"postgres://u:p@h/db",
		"mysql://u:p@h",
		"mysql://u:p@h/",
		"mysql://u:p@h/a/b",
		"mysql://u:p@h/db?max_open_conns=many",
		"mysql://u:p@h/db?max_open_conns=0",
		"mysql://u:p@h/db?op_timeout=soon",
		"mysql://u:p@h/db?tls=no-such-config",
		"mysql://u:p@h/db?readTimeout=long",
		"mysql://u:secret%zz@h/db",
	} {
		_, _, err := parseURL(bad)
		if err == nil {
			t.Errorf("parseURL(%q) succeeded", bad)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("parseURL(%q): the error shows the password: %v", bad, err)
		}
	}
}
