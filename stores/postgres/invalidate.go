package postgres

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sessiond/sessiond"
)

// Near-cache invalidations travel over PostgreSQL's own LISTEN/NOTIFY, so
// that every node's cache (package nearcache) stays coherent with nothing
// to run beside the database.
//
// Each write that changes what a validation returns — UpdateData, Rotate,
// Delete, DeleteUserSessions, PutUser — calls pg_notify in the same
// statement as the write, or in the same pipelined batch (one implicit
// transaction, one round trip). PostgreSQL delivers a notification only
// when its transaction commits: a write that fails announces nothing, and
// a committed one is never left unannounced. Where the statement returns
// the changed row anyway, pg_notify sits in its RETURNING list, so a write
// that changes nothing (a lost compare-and-swap, an unknown id) stays
// silent. Creations (a new session is in no cache) and touches (sliding
// expiry must not make every request a broadcast) are never announced, nor
// is the sweeper: the Manager refuses expired sessions by its own clock.
//
// The cost on a write is a few bytes on the wire and, at commit, a global
// lock that PostgreSQL takes to order notifying transactions: paid by
// revocations and data updates, never by validations.
//
// The payload, a wire format that nodes of different versions share, is
// "s:" + session id or "u:" + user id. Session ids are 64 hex
// characters and user ids at most 256 bytes (sessiond.MaxUserIDLen), far
// below the 8000-byte limit of a payload. Payload and channel always go as
// bind parameters, never spliced into SQL.
//
// LISTEN needs a server connection of its own for as long as the
// subscription lives, which a transaction-mode pooler such as PgBouncer
// cannot give: the LISTEN would succeed, and the notifications would go
// to whichever client next borrowed that server connection. Behind one,
// turn the near cache off (sessiond serve --near-cache=false).

var _ sessiond.Invalidator = (*Store)(nil)

const (
	sessionPrefix = "s:"
	userPrefix    = "u:"
)

// notify queues an announcement as a statement of its own in the batch of
// a write of many rows: one message, not one per row.
func (s *Store) notify(b *pgx.Batch, payload string) {
	b.Queue(`SELECT pg_notify($1, $2)`, s.channel, payload)
}

// validChannel keeps the channel a plain identifier that fits PostgreSQL's
// 63-byte limit on names: a longer one would be truncated by LISTEN but
// refused by pg_notify, and the two would never meet.
func validChannel(c string) bool {
	if len(c) == 0 || len(c) > 63 {
		return false
	}
	for _, r := range c {
		if r != '_' && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// Subscribe listens on the store's channel over a connection of its own,
// outside the pool, so that it never takes a connection from the requests
// and is closed when the subscription ends. It returns when ctx ends, when
// the store is closed, or when the connection fails; the caller (the near
// cache) then flushes and subscribes again.
//
// A connection that has been silent for op_timeout is checked with a round
// trip, also bounded by op_timeout: a half-open connection (a crashed host,
// a failover, a NAT that forgot it) would otherwise wait forever while the
// invalidations went elsewhere, so a dead channel is noticed within twice
// op_timeout.
func (s *Store) Subscribe(ctx context.Context, ready func(), fn func(sessiond.Invalidation)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	conn, err := s.listen(ctx)
	if err != nil {
		return fail("subscribe", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.opTimeout)
		defer cancel()
		conn.Close(ctx)
	}()
	ready()
	for {
		n, err := s.next(ctx, conn)
		if err != nil {
			return fail("invalidations", err)
		}
		inv, err := decodeInvalidation(n.Payload)
		if err != nil {
			return err
		}
		fn(inv)
	}
}

// listen opens the dedicated connection and subscribes it. LISTEN takes
// effect when it returns: every notification committed from then on is
// delivered.
func (s *Store) listen(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig)
	if err != nil {
		return nil, err
	}
	if err := s.relisten(ctx, conn); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	return conn, nil
}

// relisten runs LISTEN, which does nothing on a session that already
// listens: as the heartbeat, it proves the connection alive and keeps
// pg_stat_activity showing what the connection is for.
func (s *Store) relisten(ctx context.Context, conn *pgx.Conn) error {
	_, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize())
	return err
}

// next waits for the next notification, checking the connection whenever
// it has been silent for op_timeout. Notifications that arrive during the
// check are kept by pgx and returned first.
func (s *Store) next(ctx context.Context, conn *pgx.Conn) (*pgconn.Notification, error) {
	for {
		wait, cancel := context.WithTimeout(ctx, s.opTimeout)
		n, err := conn.WaitForNotification(wait)
		cancel()
		if err == nil {
			return n, nil
		}
		if ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		check, cancel := s.bounded(ctx)
		err = s.relisten(check, conn)
		cancel()
		if err != nil {
			return nil, err
		}
	}
}

// decodeInvalidation reads a payload. Anything else on the channel (a
// format from a newer version, an operator's NOTIFY) ends the subscription:
// the cache cannot tell what changed, so it must flush, and it does when
// Subscribe returns.
func decodeInvalidation(payload string) (sessiond.Invalidation, error) {
	if id, ok := strings.CutPrefix(payload, sessionPrefix); ok && id != "" {
		return sessiond.Invalidation{SessionID: id}, nil
	}
	if id, ok := strings.CutPrefix(payload, userPrefix); ok && id != "" {
		return sessiond.Invalidation{UserID: id}, nil
	}
	return sessiond.Invalidation{}, errors.New("postgres: invalidations: unknown payload on the channel")
}
