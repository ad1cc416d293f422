package postgres

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sessiond/sessiond/internal/storeop"
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
// a committed one is never left unannounced. pg_notify sits where it runs
// only if the write changed something (a RETURNING list, a CASE on the
// count of deleted rows), so a lost compare-and-swap or an unknown id stays
// silent. Creations (a new session is in no cache) and touches (sliding
// expiry must not make every request a broadcast) are never announced, nor
// is the sweeper: the Manager refuses expired sessions by its own clock.
//
// The cost on a write is a few bytes on the wire and, at commit, a global
// lock that PostgreSQL takes to order notifying transactions: paid by
// revocations, rotations and data updates, never by validations.
//
// The payload, a wire format that nodes of different versions share, is
// "s:" + session id or "u:" + user id. Session ids are the stable ids
// (22 characters) and user ids at most 256 bytes, far below the 8000-byte
// limit of a payload. Payload and channel always go as bind parameters,
// never spliced into SQL.
//
// LISTEN needs a server connection of its own for as long as the
// subscription lives, which a transaction-mode pooler such as PgBouncer
// cannot give: the LISTEN would succeed, and the notifications would go
// to whichever client next borrowed that server connection. Behind one,
// turn the near cache off (sessiond serve --near-cache=false).

const (
	sessionPrefix = "s:"
	userPrefix    = "u:"
)

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

// Subscribe delivers the invalidations of every node (nearcache.Source):
// a session id when one session was revoked, rotated or had its data
// changed; a user id when the user's record changed or their sessions were
// revoked. It listens on the store's channel over a connection of its own,
// made with the pool's configuration (see listen), calls ready once LISTEN
// is in effect, and returns when ctx ends, when the store is closed, or
// when the connection fails; the caller (the near cache) then flushes and
// subscribes again.
//
// A connection that has been silent for the op timeout is checked with a
// round trip, also bounded by the op timeout: a half-open connection (a
// crashed host, a failover, a NAT that forgot it) would otherwise wait
// forever while the invalidations went elsewhere, so a dead channel is
// noticed within twice the op timeout.
func (s *Store) Subscribe(ctx context.Context, ready func(), invalidate func(sessionID, userID string)) error {
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
		return storeop.Wrap(engine, "subscribe", err)
	}
	defer func() {
		ctx, cancel := storeop.Bound(context.Background(), s.opTimeout)
		defer cancel()
		conn.Close(ctx)
	}()
	ready()
	for {
		n, err := s.next(ctx, conn)
		if err != nil {
			return storeop.Wrap(engine, "invalidations", err)
		}
		sessionID, userID, err := decodeInvalidation(n.Payload)
		if err != nil {
			return storeop.Wrap(engine, "invalidations", err)
		}
		invalidate(sessionID, userID)
	}
}

// listen opens the dedicated connection and subscribes it. The connection
// is made with the pool's configuration — its ConnConfig (host,
// credentials, TLS, runtime parameters such as application_name) and its
// BeforeConnect and AfterConnect hooks, so that rotating credentials (an
// IAM token set by BeforeConnect, say) work for it too — but outside the
// pool: it never waits for, or takes, a connection that requests need, and
// it is closed when the subscription ends. LISTEN takes effect when it
// returns: every notification committed from then on is delivered.
func (s *Store) listen(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := storeop.Bound(ctx, s.opTimeout)
	defer cancel()
	cfg := s.pool.Config() // a copy, ConnConfig included
	if cfg.BeforeConnect != nil {
		if err := cfg.BeforeConnect(ctx, cfg.ConnConfig); err != nil {
			return nil, err
		}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return nil, err
	}
	if cfg.AfterConnect != nil {
		err = cfg.AfterConnect(ctx, conn)
	}
	if err == nil {
		err = s.relisten(ctx, conn)
	}
	if err != nil {
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
// it has been silent for the op timeout. Notifications that arrive during
// the check are kept by pgx and returned first.
func (s *Store) next(ctx context.Context, conn *pgx.Conn) (*pgconn.Notification, error) {
	for {
		wait, cancel := storeop.Bound(ctx, s.opTimeout)
		n, err := conn.WaitForNotification(wait)
		cancel()
		if err == nil {
			return n, nil
		}
		if ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		check, cancel := storeop.Bound(ctx, s.opTimeout)
		err = s.relisten(check, conn)
		cancel()
		if err != nil {
			return nil, err
		}
	}
}

// errUnknownPayload ends a subscription on anything else on the channel (a
// format from a newer version, an operator's NOTIFY): the cache cannot tell
// what changed, so it must flush, and it does when Subscribe returns.
var errUnknownPayload = errors.New("unknown payload on the channel")

// decodeInvalidation reads a payload: a session id or a user id.
func decodeInvalidation(payload string) (sessionID, userID string, err error) {
	if id, ok := strings.CutPrefix(payload, sessionPrefix); ok && id != "" {
		return id, "", nil
	}
	if id, ok := strings.CutPrefix(payload, userPrefix); ok && id != "" {
		return "", id, nil
	}
	return "", "", errUnknownPayload
}
