package redisqueue

import "github.com/redis/go-redis/v9"

// The scripts run each write atomically in Redis (a script runs alone,
// and is written to the AOF and to replicas as one unit). Every script
// gets KEYS[1], the queue's receivers set, so that a cluster client
// routes it to the queue's slot (all keys share the hash tag {q}), and
// ARGV[1], the keys' common start, from which it builds the others.
//
// A script stops at its first error and keeps what it wrote before, so
// each checks what can fail (a key of the wrong type, written by
// something else) before its first write, or uses pcall after it. No
// script has a shebang (flags): Redis before 7 refuses them, and without
// flags Redis refuses a script over maxmemory at its first write, which
// is before anything is stored.
//
// Hash fields of a message (base.."m:"..id): id, r (receiver), ev
// (event), t (time, Unix ns), p (payload), a (attempt), n (next attempt,
// Unix ns), e (last error), s (last status), st ("p" pending or "d"
// dead), eq (enqueued, Unix ns), d (death, Unix ns). Scores are Unix
// microseconds (exact in a double until 2255).

// luaHelpers are functions every script shares: zset writes that a
// hostile key type cannot stop half-way.
const luaHelpers = `
local base = ARGV[1]
local function zrem(k, id) redis.pcall('ZREM', k, id) end
local function zcard(k)
  local n = redis.pcall('ZCARD', k)
  if type(n) == 'number' then return n end
  return 0
end
local function forget(r)
  if zcard(base..'pend:'..r) + zcard(base..'dead:'..r) == 0 then redis.call('SREM', KEYS[1], r) end
end
local function released(dk, id, lease)
  if lease == '0' then return false end
  local sc = redis.pcall('ZSCORE', dk, id)
  return type(sc) == 'string' and tonumber(sc) ~= tonumber(lease)
end
local function kindOK(k, want)
  local t = redis.call('TYPE', k).ok
  if t == 'none' or t == want then return nil end
  return k..' holds a '..t..', not a '..want
end
`

// enqueueScript stores the messages of several Enqueue calls (a group
// commit). ARGV: base, enqueued ns, enqueued µs, the number of calls,
// then per call its number of messages and per message id, receiver,
// event, time, payload, attempt, next, last error, last status, due µs.
// It answers per call "" (stored, or already held) or why the call was
// refused; a refused call stores nothing, the others go on.
var enqueueScript = redis.NewScript(luaHelpers + `
local bad = kindOK(KEYS[1], 'set')
if bad then return redis.error_reply('IDPHOOKS '..bad) end
local enqns, enqus = ARGV[2], ARGV[3]
local calls, i = {}, 5
for c = 1, tonumber(ARGV[4]) do
  local k = tonumber(ARGV[i])
  local first, why = i + 1, ''
  for j = 0, k - 1 do
    local o = first + j * 11
    local id, r = ARGV[o], ARGV[o + 1]
    local w = kindOK(base..'m:'..id, 'hash') or kindOK(base..'due:'..r, 'zset') or kindOK(base..'pend:'..r, 'zset') or kindOK(base..'dead:'..r, 'zset')
    if w then why = w; break end
  end
  calls[c] = {first, k, why}
  i = first + k * 11
end
local out = {}
for c, call in ipairs(calls) do
  local first, k, why = call[1], call[2], call[3]
  if why == '' then
    for j = 0, k - 1 do
      local o = first + j * 11
      local id, r = ARGV[o], ARGV[o + 1]
      local mk = base..'m:'..id
      if redis.call('EXISTS', mk) == 0 then
        redis.call('HSET', mk, 'id', id, 'r', r, 'ev', ARGV[o + 2], 't', ARGV[o + 3], 'p', ARGV[o + 4],
          'a', ARGV[o + 5], 'n', ARGV[o + 6], 'e', ARGV[o + 7], 's', ARGV[o + 8], 'st', 'p', 'eq', enqns, 'd', '0', 'mac', ARGV[o + 10])
        redis.call('ZADD', base..'due:'..r, ARGV[o + 9], id)
        redis.call('ZADD', base..'pend:'..r, enqus, id)
        redis.call('SADD', KEYS[1], r)
      end
    end
  end
  out[c] = why
end
return out
`)

// leaseScript leases a receiver's due messages: their due score moves to
// the lease's end (the visibility timeout), so no other Lease, in this
// process or another, sees them until then. ARGV: base, receiver, now µs,
// max, lease end µs. It answers the score of the first message not
// leased ("" when none), then id and fields of each leased message. A
// member whose message is gone, not pending or not a hash is dropped from
// the indexes (it cannot be delivered) and skipped.
var leaseScript = redis.NewScript(luaHelpers + `
local r = ARGV[2]
local dk, pk = base..'due:'..r, base..'pend:'..r
local ids = redis.call('ZRANGEBYSCORE', dk, '-inf', ARGV[3], 'LIMIT', 0, tonumber(ARGV[4]))
local nxt = redis.call('ZRANGE', dk, #ids, #ids, 'WITHSCORES')
local out = {nxt[2] or ''}
for _, id in ipairs(ids) do
  local mk = base..'m:'..id
  local st = redis.pcall('HGET', mk, 'st')
  if st == 'p' then
    redis.call('ZADD', dk, ARGV[5], id)
    out[#out + 1] = id
    out[#out + 1] = redis.call('HGETALL', mk)
  else
    zrem(dk, id)
    if st ~= 'd' then zrem(pk, id) end
  end
end
return out
`)

// doneScript removes a pending message. ARGV: base, id.
var doneScript = redis.NewScript(luaHelpers + `
local mk = base..'m:'..ARGV[2]
if redis.call('HGET', mk, 'st') ~= 'p' then return 0 end
local r = redis.call('HGET', mk, 'r')
redis.call('DEL', mk)
if r then
  zrem(base..'due:'..r, ARGV[2])
  zrem(base..'pend:'..r, ARGV[2])
  forget(r)
end
return 1
`)

// retryScript makes a pending message due again. ARGV: base, id, attempt,
// last error, last status, next ns, due µs, lease end µs (the caller's
// lease: "0" for none). A message whose due score is no longer that lease's
// end was leased again by another worker (this one's ran out): it is
// that worker's now, and left alone.
var retryScript = redis.NewScript(luaHelpers + `
local mk = base..'m:'..ARGV[2]
if redis.call('HGET', mk, 'st') ~= 'p' then return 0 end
local r = redis.call('HGET', mk, 'r')
if not r then return 0 end
if released(base..'due:'..r, ARGV[2], ARGV[8]) then return 0 end
redis.call('HSET', mk, 'a', ARGV[3], 'e', ARGV[4], 's', ARGV[5], 'n', ARGV[6])
redis.pcall('ZADD', base..'due:'..r, ARGV[7], ARGV[2])
return 1
`)

// deadScript moves a pending message to the dead letters. ARGV: base, id,
// attempt, last error, last status, death ns, death µs, lease end µs (as
// retryScript's), then, for a message buried because its fields were
// damaged, the fields to write over them (field, value, ...).
var deadScript = redis.NewScript(luaHelpers + `
local id = ARGV[2]
local mk = base..'m:'..id
if redis.call('HGET', mk, 'st') ~= 'p' then return 0 end
local r = redis.call('HGET', mk, 'r')
if not r then return 0 end
if released(base..'due:'..r, id, ARGV[8]) then return 0 end
local bad = kindOK(base..'dead:'..r, 'zset')
if bad then return redis.error_reply('IDPHOOKS '..bad) end
for k = 9, #ARGV, 2 do redis.call('HSET', mk, ARGV[k], ARGV[k + 1]) end
redis.call('HSET', mk, 'st', 'd', 'a', ARGV[3], 'e', ARGV[4], 's', ARGV[5], 'd', ARGV[6])
zrem(base..'due:'..r, id)
zrem(base..'pend:'..r, id)
redis.call('ZADD', base..'dead:'..r, ARGV[7], id)
return 1
`)

// replayScript moves dead letters back to pending, due now, attempts from
// 0. ARGV: base, now ns, now µs, then "id", id (answers 1 moved, 0 not
// dead, -1 unknown) or "r", receiver, since µs, step (answers moved,
// looked at: fewer looked at than step means the receiver is done).
var replayScript = redis.NewScript(luaHelpers + `
local nowns, nowus = ARGV[2], ARGV[3]
local function revive(id, r)
  local mk = base..'m:'..id
  redis.call('HSET', mk, 'st', 'p', 'a', '0', 'n', nowns, 'eq', nowns, 'd', '0')
  zrem(base..'dead:'..r, id)
  redis.call('ZADD', base..'due:'..r, nowus, id)
  redis.call('ZADD', base..'pend:'..r, nowus, id)
  redis.call('SADD', KEYS[1], r)
end
local function check(r)
  return kindOK(KEYS[1], 'set') or kindOK(base..'due:'..r, 'zset') or kindOK(base..'pend:'..r, 'zset')
end
if ARGV[4] == 'id' then
  local mk = base..'m:'..ARGV[5]
  local st = redis.call('HGET', mk, 'st')
  if not st then return -1 end
  if st ~= 'd' then return 0 end
  local r = redis.call('HGET', mk, 'r')
  if not r then return 0 end
  local bad = check(r)
  if bad then return redis.error_reply('IDPHOOKS '..bad) end
  revive(ARGV[5], r)
  return 1
end
local r = ARGV[5]
local bad = check(r) or kindOK(base..'dead:'..r, 'zset')
if bad then return redis.error_reply('IDPHOOKS '..bad) end
local ids = redis.call('ZRANGEBYSCORE', base..'dead:'..r, ARGV[6], '+inf', 'LIMIT', 0, tonumber(ARGV[7]))
local moved = 0
for _, id in ipairs(ids) do
  local st = redis.pcall('HGET', base..'m:'..id, 'st')
  if st == 'd' then
    revive(id, r)
    moved = moved + 1
  else
    zrem(base..'dead:'..r, id)
  end
end
return {moved, #ids}
`)

// countsScript answers per receiver with messages: name, pending, dead,
// and the enqueue time (ns) of the oldest pending ("" when none).
var countsScript = redis.NewScript(luaHelpers + `
local bad = kindOK(KEYS[1], 'set')
if bad then return redis.error_reply('IDPHOOKS '..bad) end
local out = {}
for _, r in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local p, d = zcard(base..'pend:'..r), zcard(base..'dead:'..r)
  if p + d > 0 then
    local eq = ''
    if p > 0 then
      local first = redis.call('ZRANGE', base..'pend:'..r, 0, 0)
      local v = redis.pcall('HGET', base..'m:'..first[1], 'eq')
      if type(v) == 'string' then eq = v end
    end
    out[#out + 1] = r
    out[#out + 1] = p
    out[#out + 1] = d
    out[#out + 1] = eq
  end
end
return out
`)

// listScript answers a page of a receiver's pending or dead index: 1 when
// more follow (else 0), then id, score and fields of each entry. ARGV:
// base, index key, limit, the cursor's score and id ("" for the first
// page). The page starts after the cursor's entry; when that entry has
// left the index meanwhile, after where it would be (score, then id in
// byte order).
var listScript = redis.NewScript(luaHelpers + `
local zk, limit, cs, cid = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local bad = kindOK(zk, 'zset')
if bad then return redis.error_reply('IDPHOOKS '..bad) end
local start = 0
if cs ~= '' then
  local sc = redis.call('ZSCORE', zk, cid)
  if sc and tonumber(sc) == tonumber(cs) then
    start = redis.call('ZRANK', zk, cid) + 1
  else
    start = redis.call('ZCOUNT', zk, '-inf', '('..cs)
    local done = false
    while not done do
      local chunk = redis.call('ZRANGE', zk, start, start + 99, 'WITHSCORES')
      if #chunk == 0 then break end
      for k = 1, #chunk, 2 do
        if tonumber(chunk[k + 1]) == tonumber(cs) and chunk[k] < cid then
          start = start + 1
        else
          done = true
          break
        end
      end
    end
  end
end
local ids = redis.call('ZRANGE', zk, start, start + limit, 'WITHSCORES')
local out = {0}
if #ids > 2 * limit then out[1] = 1 end
for k = 1, math.min(#ids, 2 * limit), 2 do
  local h = redis.pcall('HGETALL', base..'m:'..ids[k])
  if type(h) ~= 'table' or h.err then h = {} end
  out[#out + 1] = ids[k]
  out[#out + 1] = ids[k + 1]
  out[#out + 1] = h
end
return out
`)
