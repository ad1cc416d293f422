package redis

import (
	"fmt"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

// Every multi-key operation is one Lua script, so it is atomic, and every
// key one script touches carries the same hash tag, so it runs on one
// Redis Cluster node. Scripts get the tagged base ("sd:{ab}") in ARGV and
// derive the keys of a user's sessions from index members, which stay in
// the same slot: Redis Cluster allows undeclared keys of the declared
// keys' slot.
//
// Scripts read the server's clock (TIME) to trim an index, so an index
// entry goes exactly when its session key's TTL (also the server's clock)
// does, however far the nodes' clocks drift.
//
// The writes that change what a validation returns announce themselves to
// every node's near cache with a PUBLISH (see invalidate.go): after the
// checks that may refuse the write, before its first change, so that a
// write that changes nothing is silent and a refused PUBLISH (an ACL
// without the channel) fails the write whole instead of half-done.

// prelude is shared by the session scripts.
var prelude = fmt.Sprintf(`
local HDR = %d
local function uid(v)
  local n = struct.unpack('<I2', v, %d)
  return string.sub(v, HDR + 1, HDR + n)
end
-- head is a session's fixed fields and user id, or nil if it is gone.
local function head(key)
  local h = redis.call('GETRANGE', key, 0, HDR + %d - 1)
  if h == '' then return nil end
  return h
end
local function now()
  local t = redis.call('TIME')
  return string.format('%%d', t[1] * 1000 + math.floor(t[2] / 1000))
end
-- trim drops index entries whose sessions have expired.
local function trim(idx) redis.call('ZREMRANGEBYSCORE', idx, '-inf', now()) end
-- settle gives an index the TTL of its latest session (an empty index
-- no longer exists).
local function settle(idx)
  local top = redis.call('ZRANGE', idx, -1, -1, 'WITHSCORES')
  if top[2] then redis.call('PEXPIREAT', idx, top[2]) end
end
-- revoke deletes a user's sessions but one and returns how many existed.
local function revoke(idx, base, except)
  local n = 0
  for _, m in ipairs(redis.call('ZRANGE', idx, 0, -1)) do
    if m ~= except then
      n = n + redis.call('DEL', base .. ':s:' .. m)
      redis.call('ZREM', idx, m)
    end
  end
  settle(idx)
  return n
end
`, headerLen, offLens+1, sessiond.MaxUserIDLen)

func script(body string) *rueidis.Lua { return rueidis.NewLuaScript(prelude + body) }

// Script results that are not a value: a refusal (the session is gone; for
// Create, the user is banned) or a conflict (UpdateData: the version moved;
// Create, Rotate: the new id is taken).
const (
	resultRefused  = 0
	resultConflict = -1
)

var (
	// KEYS session, user, index; ARGV value, idle expiry ms, raw id. 1 if
	// created, 0 if the user is banned, -1 if the id is taken. The banned check and the insert are one step: a ban that runs first
	// always wins.
	createScript = script(`
if redis.call('HGET', KEYS[2], 's') == 'banned' then return 0 end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PXAT', ARGV[2]) then return -1 end
trim(KEYS[3])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
settle(KEYS[3])
return 1
`)

	// KEYS session; ARGV base. Returns {} if the session is gone, {session}
	// if its user has no record, else {session, status, roles, attributes,
	// updated}. Read-only (EVALSHA_RO), so it may run on a replica.
	lookupScript = rueidis.NewLuaScriptReadOnly(prelude + `
local v = redis.call('GET', KEYS[1])
if not v then return {} end
local u = redis.call('HMGET', ARGV[1] .. ':u:' .. uid(v), 's', 'r', 'a', 't')
if not u[1] then return {v} end
return {v, u[1], u[2], u[3], u[4]}
`)

	// KEYS session; ARGV base, packed last seen + idle expiry, idle expiry
	// ms, raw id. Never creates: a gone session stays gone.
	touchScript = script(fmt.Sprintf(`
local h = head(KEYS[1])
if not h then return 0 end
redis.call('SETRANGE', KEYS[1], %d, ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
local idx = ARGV[1] .. ':i:' .. uid(h)
redis.call('ZADD', idx, 'XX', ARGV[3], ARGV[4])
settle(idx)
return 1
`, offSeen))

	// KEYS index; ARGV base. Returns {raw id, session, ...}.
	listScript = script(`
trim(KEYS[1])
local out = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local v = redis.call('GET', ARGV[1] .. ':s:' .. m)
  if v then
    out[#out + 1] = m
    out[#out + 1] = v
  else
    redis.call('ZREM', KEYS[1], m)
  end
end
settle(KEYS[1])
return out
`)

	// KEYS session; ARGV expected version, data, channel, message. A
	// compare-and-swap that never recreates a session: the new session, 0
	// if gone, -1 if the version moved.
	updateScript = script(fmt.Sprintf(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local ver = struct.unpack('<I8', v, %[1]d + 1)
if ver ~= tonumber(ARGV[1]) then return -1 end
redis.call('PUBLISH', ARGV[3], ARGV[4])
local lu, li, la = struct.unpack('<I2I2I2', v, %[2]d + 1)
local nv = string.sub(v, 1, %[1]d) .. struct.pack('<I8', ver + 1) ..
  string.sub(v, %[1]d + 9, HDR + lu + li + la) .. ARGV[2]
redis.call('SET', KEYS[1], nv, 'KEEPTTL')
return nv
`, offVersion, offLens))

	// KEYS old session, new session; ARGV base, packed last seen + idle
	// expiry, idle expiry ms, old raw id, new raw id, channel, message. The
	// new session, 0 if the old one is gone, -1 if the new id is taken.
	rotateScript = script(fmt.Sprintf(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
redis.call('PUBLISH', ARGV[6], ARGV[7])
local nv = string.sub(v, 1, %[1]d) .. ARGV[2] .. string.sub(v, %[1]d + 13)
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], nv, 'PXAT', ARGV[3])
local idx = ARGV[1] .. ':i:' .. uid(v)
redis.call('ZREM', idx, ARGV[4])
trim(idx)
redis.call('ZADD', idx, ARGV[3], ARGV[5])
settle(idx)
return nv
`, offSeen))

	// KEYS session; ARGV base, raw id, channel, message. 1 if deleted, 0
	// if gone.
	deleteScript = script(`
local h = head(KEYS[1])
if not h then return 0 end
redis.call('PUBLISH', ARGV[3], ARGV[4])
redis.call('DEL', KEYS[1])
local idx = ARGV[1] .. ':i:' .. uid(h)
redis.call('ZREM', idx, ARGV[2])
settle(idx)
return 1
`)

	// KEYS index; ARGV base, raw id to keep (or ""), channel, message. How
	// many went. A user without an index has no session to revoke.
	revokeUserScript = script(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return revoke(KEYS[1], ARGV[1], ARGV[2])
`)

	// KEYS user, index; ARGV base, status, roles, attributes, updated,
	// channel, message. Banning deletes the sessions in the same step;
	// returns how many.
	putUserScript = script(`
redis.call('PUBLISH', ARGV[6], ARGV[7])
redis.call('HSET', KEYS[1], 's', ARGV[2], 'r', ARGV[3], 'a', ARGV[4], 't', ARGV[5])
if ARGV[2] ~= 'banned' then return 0 end
return revoke(KEYS[2], ARGV[1], '')
`)
)

// API keys: a record per key hash (the lookup every management call does is
// one GET), and one hash id -> key hash to list and delete them. All carry
// the tag {k}.
var (
	// KEYS record, list; ARGV base, id, key hash, record.
	createKeyScript = rueidis.NewLuaScript(`
local old = redis.call('HGET', KEYS[2], ARGV[2])
if old then redis.call('DEL', ARGV[1] .. ':key:' .. old) end
redis.call('SET', KEYS[1], ARGV[4])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1
`)

	// KEYS list; ARGV base. {key hash, record, ...}.
	listKeysScript = rueidis.NewLuaScriptReadOnly(`
local out = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local r = redis.call('GET', ARGV[1] .. ':key:' .. all[i + 1])
  if r then
    out[#out + 1] = all[i + 1]
    out[#out + 1] = r
  end
end
return out
`)

	// KEYS list; ARGV base, id. 1 if deleted, 0 if unknown.
	deleteKeyScript = rueidis.NewLuaScript(`
local h = redis.call('HGET', KEYS[1], ARGV[2])
if not h then return 0 end
redis.call('DEL', ARGV[1] .. ':key:' .. h)
redis.call('HDEL', KEYS[1], ARGV[2])
return 1
`)
)
