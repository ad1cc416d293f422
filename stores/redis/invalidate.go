package redis

import (
	"context"
	"errors"
	"sync"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond/internal/storeop"
)

// Near-cache invalidations travel over Redis's own pub/sub, so that every
// node's cache (package nearcache) stays coherent with nothing to run
// beside Redis.
//
// The scripts of the writes that change what a validation returns —
// UpdateData, Rotate, Delete, DeleteUserSessions, PutUser — PUBLISH as part
// of the script, so the announcement and the write are one atomic step: a
// subscriber cannot read the store between them, and a refused write (a
// lost compare-and-swap, a session already gone) announces nothing.
// Creations (a new session is in no cache) and touches (sliding expiry
// must not make every request a broadcast) are never announced.
//
// The channel is the key prefix + "inv" ("sd:inv"), so that deployments
// sharing a Redis under different prefixes never hear each other. The
// payload, also the wire format between nodes of different versions, is
// "s" + the 16 raw bytes of a session id, or "u" + a user id (any UTF-8,
// at most 256 bytes): raw, because it needs no escaping in either
// direction. A node of the previous version announces its sessions as "s" +
// 32 raw bytes; those sessions are in no cache of this version, so such a
// message is ignored (a rolling upgrade does not flush every cache).
//
// On a Redis Cluster the PUBLISH is the classic, cluster-wide one: the node
// that runs the script forwards the message over the cluster bus to every
// other node, so a subscriber connected to any single node hears every
// write, whichever node owns the write's slot. (Sharded pub/sub, SPUBLISH,
// would deliver only within the slot's shard and need a channel, and a
// subscription, per slot.) The price is that each message crosses the bus
// to every node: fine for revocations and data updates, which are rare next
// to validations. Redis does not set TCP_NODELAY on the bus connections it
// opens, so a message that crosses the bus now and then waits for a delayed
// ACK, about 40 ms on Linux (redis/redis#11869): slower than on one server,
// still far inside the near cache's staleness bound.
//
// Permissions: under Redis ACLs the store's user needs PUBLISH and
// SUBSCRIBE, and the channel (&sd:inv, or allchannels): users created on
// Redis ≥ 7 get no channel by default (acl-pubsub-default resetchannels).
// Without PUBLISH the write scripts fail before they change anything.

// maxUserIDLen is the Manager's limit on user ids, in bytes.
const maxUserIDLen = 256

func sessionMessage(raw string) string { return "s" + raw }

func userMessage(userID string) string { return "u" + userID }

// decodeInvalidation reads a message. Anything else on the channel (a
// format from a newer version, an operator's PUBLISH) ends the
// subscription: the cache cannot tell what changed, so it must flush, and
// it does when Subscribe returns.
func decodeInvalidation(msg string) (sid, uid string, err error) {
	switch {
	case len(msg) == 1+16 && msg[0] == 's':
		return sessionID(msg[1:]), "", nil
	case len(msg) == 1+32 && msg[0] == 's':
		return "", "", nil // the previous version's session: never cached here
	case len(msg) > 1 && len(msg) <= 1+maxUserIDLen && msg[0] == 'u':
		return "", msg[1:], nil
	}
	return "", "", errors.New("unknown message on the channel")
}

// Subscribe listens on the store's channel over a connection of its own,
// taken from the application's client with Dedicate (rueidis dials it for
// the caller alone; on a cluster, to one node), never one of the pipelined
// connections the requests share: killing it
// (CLIENT KILL TYPE pubsub, a failover) then costs the requests nothing, and
// it is closed, not pooled, when the subscription ends. On a cluster it
// connects to one node, any: classic pub/sub reaches every node.
//
// It uses rueidis's pub/sub hooks, not Receive: Receive retries a lost
// RESP2 subscription (protocol=2) behind the caller's back, which would
// hide the messages lost in between, whereas the hooks' channel reports
// every loss. ready is called once Redis has confirmed the SUBSCRIBE, and
// invalidate for each message, in order, on the connection's reader:
// neither may block (the near cache's only take a mutex).
//
// Subscribe returns when ctx ends or the connection is lost; the caller
// (the near cache) flushes and subscribes again. A connection that falls
// silent (a frozen or unreachable server, a half-open TCP connection) is
// noticed by rueidis's keep-alive PING, sent after a second or two without
// traffic and bounded by the client's ConnWriteTimeout. End the
// subscription before closing the store: closing the client does not close
// a dedicated connection.
func (s *Store) Subscribe(ctx context.Context, ready func(), invalidate func(sessionID, userID string)) error {
	conn, _ := s.client.Dedicate()
	defer conn.Close()

	channel := s.channel
	var once sync.Once
	bad := make(chan error, 1)
	deaf := false // read and written on the reader only
	lost := conn.SetPubSubHooks(rueidis.PubSubHooks{
		OnSubscription: func(sub rueidis.PubSubSubscription) {
			if sub.Kind == "subscribe" && sub.Channel == channel {
				once.Do(ready)
			}
		},
		OnMessage: func(m rueidis.PubSubMessage) {
			if deaf {
				return
			}
			sid, uid, err := decodeInvalidation(m.Message)
			switch {
			case err != nil:
				deaf = true
				bad <- err
			case sid != "" || uid != "":
				invalidate(sid, uid)
			}
		},
	})
	subscribe, cancel := storeop.Bound(ctx, s.opts.OpTimeout)
	err := conn.Do(subscribe, conn.B().Subscribe().Channel(channel).Build()).Error()
	cancel()
	if err != nil {
		return storeop.Wrap(engine, "subscribe", err)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err := <-bad:
		return storeop.Wrap(engine, "subscribe", err)
	case err := <-lost:
		if err == nil { // closed without a reason
			err = errors.New("connection closed")
		}
		return storeop.Wrap(engine, "subscribe", err)
	}
}
