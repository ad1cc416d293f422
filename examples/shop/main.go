// Command shop is the sessiond demo: a small web shop built on the Go
// library, so that every property of server-side sessions can be seen in a
// browser within a minute — the rotated token at sign-in, a cart kept in the
// session's data that concurrent requests never lose items from, the list of
// a user's devices with revoke buttons, and an admin page whose bans and
// role changes hit the affected user on their very next request.
//
//	go run ./examples/shop
//
// then open http://127.0.0.1:8080 and sign in as alice, bob or admin with
// the password "demo".
//
// Flags: --addr (default 127.0.0.1:8080), --store (a store URL; default
// an SQLite file, $XDG_DATA_HOME/sessiond-shop/shop.db or
// ~/.local/share/sessiond-shop/shop.db) and --demo-password (default
// "demo"). Tokens are signed with SESSIOND_SECRET if it is set, else with a
// key generated on first run into secret.key in that same directory. With a
// store that announces its writes (memory://, redis://, postgres://) session
// checks are answered by a near cache; with SQLite every check reads the
// file.
//
// The session cookie is __Host-session, which browsers accept only with
// Secure. Chromium accepts it over plain http from 127.0.0.1 and localhost,
// which it counts as secure origins; anywhere else, serve the shop over
// HTTPS.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sessiond/sessiond/stores"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "shop:", err)
		os.Exit(1)
	}
}

// run is the whole program: it parses args, opens the store, serves until
// ctx ends, then shuts down gracefully. Taking the environment and the
// output as arguments lets tests run the real program in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	dataDir, dataDirErr := defaultDataDir(getenv)
	fs := flag.NewFlagSet("shop", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: shop [--addr HOST:PORT] [--store URL] [--demo-password PASSWORD]")
		fs.PrintDefaults()
	}
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	defaultStore := ""
	if dataDirErr == nil {
		defaultStore = "sqlite://" + filepath.Join(dataDir, "shop.db")
	}
	storeURL := fs.String("store", defaultStore, "session store URL (sqlite://, memory://, ...)")
	demoPassword := fs.String("demo-password", "demo", "password of the demo users alice, bob and admin")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *storeURL == "" {
		return fmt.Errorf("no --store given and no data directory: %w", dataDirErr)
	}

	secrets, err := loadSecrets(getenv, dataDir)
	if err != nil {
		return err
	}
	store, err := stores.Open(ctx, *storeURL)
	if err != nil {
		return err
	}
	defer store.Close()

	log := slog.New(slog.NewTextHandler(stderr, nil))
	app, err := newApp(ctx, config{
		Store:        store,
		Secrets:      secrets,
		DemoPassword: *demoPassword,
		Log:          log,
	})
	if err != nil {
		return err
	}
	defer app.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           app.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("shop: open the URL and sign in as alice, bob or admin with the --demo-password", "url", "http://"+ln.Addr().String())

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// defaultDataDir follows the XDG base directory spec, as the sessiond
// server does: $XDG_DATA_HOME/sessiond-shop, else
// ~/.local/share/sessiond-shop.
func defaultDataDir(getenv func(string) string) (string, error) {
	if dir := getenv("XDG_DATA_HOME"); filepath.IsAbs(dir) {
		return filepath.Join(dir, "sessiond-shop"), nil
	}
	if home := getenv("HOME"); home != "" {
		return filepath.Join(home, ".local", "share", "sessiond-shop"), nil
	}
	return "", errors.New("neither XDG_DATA_HOME nor HOME is set")
}
