// Package sqlite is the embedded sessiond.Store: one file, no server, pure
// Go (modernc.org/sqlite, no cgo). It is the server's default store.
//
// The database runs in WAL mode so that validations (reads) never wait for
// writes; writes go through a single connection, which is how SQLite
// serialises them anyway, so they queue in Go instead of spinning on
// SQLITE_BUSY. Expired rows are swept in the background.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/sweeper"
)

// Options tune a Store. The zero value is sensible.
type Options struct {
	// SweepInterval is how often expired sessions are deleted (default 1m;
	// negative disables the sweeper).
	SweepInterval time.Duration
	// BusyTimeout bounds how long a statement waits for a lock held by
	// another process using the same file (default 5s).
	BusyTimeout time.Duration
	// MaxReadConns bounds concurrent readers (default 4).
	MaxReadConns int
}

// Store is an SQLite-backed sessiond.Store.
type Store struct {
	read  *sql.DB // concurrent readers (WAL)
	write *sql.DB // exactly one connection: SQLite has one writer at a time

	sweeper *sweeper.Sweeper
}

var (
	_ sessiond.Store          = (*Store)(nil)
	_ sessiond.APIKeyStore    = (*Store)(nil)
	_ sessiond.ExpiredSweeper = (*Store)(nil)
	_ sessiond.TokenLedger    = (*Store)(nil)
)

// Open opens (creating if needed) the database file at path, migrates its
// schema and starts the sweeper.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if opts.SweepInterval == 0 {
		opts.SweepInterval = time.Minute
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 5 * time.Second
	}
	if opts.MaxReadConns <= 0 {
		opts.MaxReadConns = 4
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
	}
	// Sessions are secrets' neighbours: keep the file private. SQLite gives
	// its -wal and -shm files the database file's mode.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err == nil {
		f.Close()
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", opts.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)") // durable across process crashes; WAL makes it safe
	q.Add("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()

	write, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	write.SetMaxOpenConns(1)
	read, err := sql.Open("sqlite", dsn)
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	read.SetMaxOpenConns(opts.MaxReadConns)
	s := &Store{read: read, write: write}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if opts.SweepInterval > 0 {
		s.sweeper = sweeper.Start(s, opts.SweepInterval)
	}
	return s, nil
}

// OpenURL opens a store from a sqlite:// URL: sqlite:///abs/path.db or
// sqlite://relative/path.db, with an optional ?sweep_interval=1m.
func OpenURL(ctx context.Context, rawURL string) (*Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "sqlite" {
		return nil, fmt.Errorf("sqlite: bad URL %q: want sqlite:///abs/path.db or sqlite://rel/path.db", rawURL)
	}
	path := u.Host + u.Path
	if path == "" {
		return nil, fmt.Errorf("sqlite: URL %q has no file path", rawURL)
	}
	var opts Options
	if v := u.Query().Get("sweep_interval"); v != "" {
		if opts.SweepInterval, err = time.ParseDuration(v); err != nil {
			return nil, fmt.Errorf("sqlite: sweep_interval: %w", err)
		}
	}
	return Open(ctx, path, opts)
}

// Close stops the sweeper and closes the database.
func (s *Store) Close() error {
	s.sweeper.Stop()
	return errors.Join(s.read.Close(), s.write.Close())
}

// Ping checks that the file is readable.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return s.read.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// sweepBatch keeps each delete short, so validations and writes interleave.
const sweepBatch = 1000

// DeleteExpired removes sessions whose idle expiry has passed (the idle
// expiry is never later than the absolute one).
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		res, err := s.write.ExecContext(ctx,
			`DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE idle_expires_at <= ? LIMIT ?)`,
			now.UnixMilli(), sweepBatch)
		if err != nil {
			return total, err
		}
		n, _ := res.RowsAffected()
		total += int(n)
		if n < sweepBatch {
			break
		}
	}
	_, err := s.write.ExecContext(ctx, `DELETE FROM redeemed_tokens WHERE expires_at <= ?`, now.UnixMilli())
	return total, err
}
