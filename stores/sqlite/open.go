package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/sessiond/sessiond/internal/storeop"
)

// Open opens (creating if needed) the database file at path, tuned for
// sessions, migrates its schema and starts the sweeper. The store owns its
// connections: Close closes them.
//
// It keeps two pools on the file: one connection for every write (SQLite
// has one writer at a time, and the store queues its writes anyway) and up
// to MaxReadConns readers, which WAL lets run while a write is in progress.
// Several processes may open the same file: they wait for each other's
// locks up to BusyTimeout.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, fmt.Errorf("sqlite: Open needs a file path")
	}
	if opts.OpTimeout <= 0 {
		opts.OpTimeout = storeop.DefaultTimeout
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = opts.OpTimeout
	}
	if opts.MaxReadConns <= 0 {
		opts.MaxReadConns = defaultMaxReadConns
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, storeop.Wrap(engine, "open", err)
	}
	if err := createPrivate(abs); err != nil {
		return nil, storeop.Wrap(engine, "open", err)
	}

	busy := fmt.Sprintf("busy_timeout(%d)", opts.BusyTimeout.Milliseconds())
	writeQuery := url.Values{"_pragma": {busy, "journal_mode(WAL)",
		// Durable across process crashes; in WAL mode a power cut may lose
		// the last transactions but never corrupts the file.
		"synchronous(NORMAL)"}}
	writeQuery.Set("_txlock", "immediate") // a transaction takes the write lock up front
	write, err := sql.Open("sqlite", fileURI(abs)+"?"+writeQuery.Encode())
	if err != nil {
		return nil, storeop.Wrap(engine, "open", err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)

	// Readers cannot write, whatever a bug might ask of them.
	readQuery := url.Values{"_pragma": {busy, "query_only(1)"}}
	read, err := sql.Open("sqlite", fileURI(abs)+"?"+readQuery.Encode())
	if err != nil {
		write.Close()
		return nil, storeop.Wrap(engine, "open", err)
	}
	read.SetMaxOpenConns(opts.MaxReadConns)
	read.SetMaxIdleConns(opts.MaxReadConns) // no reconnect (and PRAGMAs) after every burst
	return start(ctx, read, write, true, opts)
}

// createPrivate creates the file (and its directory) readable by its owner
// only, unless it exists: sessions live next to users' roles and API key
// hashes. SQLite gives the -wal and -shm files the database file's mode.
func createPrivate(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// fileURI makes an SQLite URI filename of an absolute path, escaping what
// would otherwise start a query or fragment or an escape.
func fileURI(abs string) string {
	return "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(abs))
}
