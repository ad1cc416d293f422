package redis

import "github.com/redis/rueidis"

// Every operation that touches more than one key is one Lua script, so it
// is atomic, and every key one script touches carries the same hash tag, so
// it runs on one Redis Cluster node. Scripts get the tagged base
// ("sd:{ab}") in ARGV and derive the other keys of the slot from what they
// read (a session's user id names its index bucket and user record; an
// index entry names its session): Redis Cluster allows undeclared keys of
// the declared keys' slot.
//
// Scripts read the server's clock (TIME) to trim an index bucket, so an
// index entry goes when its session key's TTL (also the server's clock)
// does, however far the nodes' clocks drift.
//
// The writes that change what a validation returns announce themselves to
// every node's near cache with a PUBLISH (see invalidate.go): after the
// checks that may refuse the write, before its first change, so that a
// write that changes nothing is silent and a refused PUBLISH (an ACL
// without the channel) fails the write whole instead of half-done.

// prelude is shared by the session scripts: reading and rewriting the
// packed session (codec.go) and keeping the index buckets (keys.go).
const prelude = `
local _
local function corrupt() error('corrupt session record') end
local function uvarint(v, i)
  local n, m = 0, 1
  while true do
    local b = string.byte(v, i)
    if not b then corrupt() end
    i = i + 1
    if b < 128 then return n + b * m, i end
    n = n + (b - 128) * m
    m = m * 128
  end
end
local function varint(v, i)
  local z
  z, i = uvarint(v, i)
  if z % 2 == 0 then return z / 2, i end
  return -(z + 1) / 2, i
end
local function putuvarint(n)
  local t = {}
  while n >= 128 do
    t[#t + 1] = string.char(n % 128 + 128)
    n = math.floor(n / 128)
  end
  t[#t + 1] = string.char(n)
  return table.concat(t)
end
local function zigzag(n)
  if n >= 0 then return n * 2 end
  return -n * 2 - 1
end
local function putvarint(n) return putuvarint(zigzag(n)) end
-- parse splits a packed session into the fields scripts rewrite and the
-- rest, unchanged (tail: from the user id on).
local function parse(v)
  if string.byte(v, 1) ~= 2 then corrupt() end
  local s = {created = struct.unpack('<I6', v, 2)}
  local i, j = 8
  s.seen, i = varint(v, i)
  s.ver, i = uvarint(v, i)
  s.gen, i = uvarint(v, i)
  j = i
  _, i = uvarint(v, i)
  s.rotated = string.sub(v, j, i - 1)
  s.hash = string.sub(v, i, i + 31)
  i = i + 32
  s.tail_at = i
  local n
  n, i = uvarint(v, i)
  s.uid = string.sub(v, i, i + n - 1)
  if #s.hash ~= 32 or #s.uid ~= n then corrupt() end
  return s
end
local function pack(v, s)
  return string.sub(v, 1, 7) .. putvarint(s.seen) .. putuvarint(s.ver) .. putuvarint(s.gen) ..
    s.rotated .. s.hash .. string.sub(v, s.tail_at)
end
-- data_at is where a packed session's data starts.
local function data_at(v, s)
  local i, n = s.tail_at
  n, i = uvarint(v, i)
  i = i + n
  _, i = varint(v, i) -- auth time
  _, i = uvarint(v, i) -- expires at
  _, i = uvarint(v, i) -- idle timeout
  n, i = uvarint(v, i) -- client IP
  if n == 1 then i = i + 4 elseif n == 2 then i = i + 16 elseif n >= 3 then i = i + n - 3 end
  n, i = uvarint(v, i) -- user agent
  return i + n
end
-- bucket is the index bucket of a user: one of 128 per hash tag.
local function bucket(base, uid)
  return base .. ':b:' .. string.format('%02x', tonumber(string.sub(redis.sha1hex(uid), 1, 2), 16) % 128)
end
-- entry is a user's part of an index member (after the 16-byte session
-- id): the user id, or for a long one a 0 byte and its SHA-1, so that a
-- member fits a listpack.
local function entry(uid)
  if #uid <= 47 then return uid end
  return '\0' .. (string.gsub(redis.sha1hex(uid), '..', function(h) return string.char(tonumber(h, 16)) end))
end
local function trim(b)
  local t = redis.call('TIME')
  redis.call('ZREMRANGEBYSCORE', b, '-inf', t[1])
end
-- index records a session (member: raw id .. user id) in its bucket,
-- scored by its idle expiry in seconds (rounded up), and makes the bucket
-- live as long as its latest session.
local function index(b, member, ms)
  trim(b)
  redis.call('ZADD', b, math.ceil(ms / 1000), member)
  if redis.call('PEXPIRETIME', b) < ms then redis.call('PEXPIREAT', b, ms) end
end
local function unindex(b, member)
  redis.call('ZREM', b, member)
  if redis.call('ZCARD', b) == 0 then redis.call('DEL', b) end
end
-- sessions returns the raw ids of a user's entries in a bucket.
local function sessions(b, uid)
  local e, out = entry(uid), {}
  for _, m in ipairs(redis.call('ZRANGE', b, 0, -1)) do
    if #m == 16 + #e and string.sub(m, 17) == e then out[#out + 1] = string.sub(m, 1, 16) end
  end
  return out
end
-- revoke deletes a user's sessions but one and returns how many existed.
-- It reads each session's user id before deleting it: an entry proves
-- nothing on its own (two long user ids could share a SHA-1).
local function revoke(base, b, uid, except)
  local n, e = 0, entry(uid)
  for _, id in ipairs(sessions(b, uid)) do
    local k = base .. ':s:' .. id
    local v = redis.call('GET', k)
    if id ~= except and (not v or parse(v).uid == uid) then
      if v then n = n + redis.call('DEL', k) end
      redis.call('ZREM', b, id .. e)
    end
  end
  if redis.call('ZCARD', b) == 0 then redis.call('DEL', b) end
  return n
end
`

func script(body string) *rueidis.Lua { return rueidis.NewLuaScript(prelude + body) }

// Script results that are not a value: the session is gone (for Create,
// the user is banned), or a compare-and-swap lost (UpdateData: the version
// moved; Rotate: the generation moved; Create: the id is taken).
const (
	resultRefused  = 0
	resultConflict = -1
)

var (
	// KEYS session, user, bucket; ARGV value, idle expiry ms, index member.
	// 1 if created, 0 if the user is banned, -1 if the id is taken. The
	// banned check and the insert are one step: a ban that runs first
	// always wins.
	createScript = script(`
if redis.call('HGET', KEYS[2], 's') == 'banned' then return 0 end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PXAT', ARGV[2]) then return -1 end
index(KEYS[3], ARGV[3], tonumber(ARGV[2]))
return 1
`)

	// KEYS session; ARGV base. Returns {} if the session is gone, {session,
	// idle expiry ms} if its user has no record, else {session, idle expiry
	// ms, status, roles, attributes, updated}. Read-only (EVALSHA_RO), so it
	// may run on a replica.
	lookupScript = rueidis.NewLuaScriptReadOnly(prelude + `
local v = redis.call('GET', KEYS[1])
if not v then return {} end
local exp = redis.call('PEXPIRETIME', KEYS[1])
local u = redis.call('HMGET', ARGV[1] .. ':u:' .. parse(v).uid, 's', 'r', 'a', 't')
if not u[1] then return {v, exp} end
return {v, exp, u[1], u[2], u[3], u[4]}
`)

	// KEYS session; ARGV base, last seen ms, idle expiry ms, raw id. Never
	// creates: a gone session stays gone.
	touchScript = script(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local s = parse(v)
s.seen = tonumber(ARGV[2]) - s.created
redis.call('SET', KEYS[1], pack(v, s), 'PXAT', ARGV[3])
index(bucket(ARGV[1], s.uid), ARGV[4] .. entry(s.uid), tonumber(ARGV[3]))
return 1
`)

	// KEYS bucket; ARGV base, user id. Returns {raw id, session, idle expiry
	// ms, ...}, dropping the entries of sessions that are gone. (The caller
	// checks each session's user id: see revoke.)
	listScript = script(`
trim(KEYS[1])
local out = {}
for _, id in ipairs(sessions(KEYS[1], ARGV[2])) do
  local k = ARGV[1] .. ':s:' .. id
  local v = redis.call('GET', k)
  if v then
    out[#out + 1] = id
    out[#out + 1] = v
    out[#out + 1] = redis.call('PEXPIRETIME', k)
  else
    unindex(KEYS[1], id .. entry(ARGV[2]))
  end
end
return out
`)

	// KEYS session; ARGV expected version, data, channel, message. A
	// compare-and-swap that never recreates a session: {session, idle
	// expiry ms}, 0 if gone, -1 if the version moved.
	updateScript = script(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local s = parse(v)
if s.ver ~= tonumber(ARGV[1]) then return -1 end
redis.call('PUBLISH', ARGV[3], ARGV[4])
local head = string.sub(v, 1, data_at(v, s) - 1)
s.ver = s.ver + 1
local nv = pack(head, s) .. ARGV[2]
redis.call('SET', KEYS[1], nv, 'KEEPTTL')
return {nv, redis.call('PEXPIRETIME', KEYS[1])}
`)

	// KEYS session; ARGV base, expected generation, secret hash, now ms, idle
	// expiry ms, raw id, channel, message. A compare-and-swap on the
	// generation: the new session, 0 if gone, -1 if the generation moved.
	rotateScript = script(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local s = parse(v)
if s.gen ~= tonumber(ARGV[2]) then return -1 end
redis.call('PUBLISH', ARGV[7], ARGV[8])
local now = tonumber(ARGV[4])
s.gen = s.gen + 1
s.hash = ARGV[3]
s.seen = now - s.created
s.rotated = putuvarint(zigzag(now - s.created) + 1)
local nv = pack(v, s)
redis.call('SET', KEYS[1], nv, 'PXAT', ARGV[5])
index(bucket(ARGV[1], s.uid), ARGV[6] .. entry(s.uid), tonumber(ARGV[5]))
return nv
`)

	// KEYS session; ARGV base, raw id, channel, message. 1 if deleted, 0 if
	// gone.
	deleteScript = script(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local s = parse(v)
redis.call('PUBLISH', ARGV[3], ARGV[4])
redis.call('DEL', KEYS[1])
unindex(bucket(ARGV[1], s.uid), ARGV[2] .. entry(s.uid))
return 1
`)

	// KEYS bucket; ARGV base, user id, raw id to keep (or ""), channel,
	// message. How many went. A user without sessions has nothing to
	// revoke, and nothing is announced.
	revokeUserScript = script(`
local n = 0
for _, id in ipairs(sessions(KEYS[1], ARGV[2])) do
  if id ~= ARGV[3] then n = n + 1 end
end
if n == 0 then return 0 end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return revoke(ARGV[1], KEYS[1], ARGV[2], ARGV[3])
`)

	// KEYS user, bucket; ARGV base, status, roles, attributes, updated,
	// channel, message, user id. Banning deletes the sessions in the same
	// step; returns how many.
	putUserScript = script(`
redis.call('PUBLISH', ARGV[6], ARGV[7])
redis.call('HSET', KEYS[1], 's', ARGV[2], 'r', ARGV[3], 'a', ARGV[4], 't', ARGV[5])
if ARGV[2] ~= 'banned' then return 0 end
return revoke(ARGV[1], KEYS[2], ARGV[8], '')
`)
)

// API keys: a record per key hash (the lookup every management call does is
// one GET), and one hash id -> key hash to list and delete them. All carry
// the tag {k}. The format is the previous version's.
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
