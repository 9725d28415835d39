-- lib.lua: helpers shared by every script. The loader (lua-scripts.ts) prepends this file to each
-- script, so a script's SHA covers the helpers it runs with.
--
-- Every script works on ONE shard and receives the same context:
--   KEYS[1] <tag>:exp    zset  active sessions (status active), score expiresAtMs (sweeper index)
--   KEYS[2] <tag>:lru    zset  active sessions, score lastActiveAtMs (eviction order)
--   KEYS[3] <tag>:sub    zset  active sessions by subject, all scores 0, member <subjectTag><id>
--   KEYS[4] <tag>:ended  zset  ended sessions (tombstones), score endedAtMs (purge index)
--   KEYS[5] <tag>:ev     hash  outbox payloads: eventId -> JSON; '#'..eventId -> redeliveries
--   KEYS[6] <tag>:evq    list  outbox event ids never claimed, oldest first
--   KEYS[7] <tag>:evc    zset  outbox event ids claimed, score claimedAtMs
--   ARGV[1] <tag>        the shard's key prefix, e.g. `sk:{03f}`
--   ARGV[2] now          epoch ms (the caller's clock; scripts never read the server clock for it)
--   ARGV[3] grace        ms a session hash outlives its deadline (tombstone retention), > 0
--   ARGV[4] eventPrefix  prefix of the ids of events this call appends (`<shard>-<nonce>-`)
-- Session hashes are `<tag>:s:<id>`; scripts build them from ARGV[1], so every key a script
-- touches carries the shard's hash tag and lives in the same Cluster slot as its KEYS.
--
-- Session hash fields (record-codec.ts decodes them): u subject, h secretHash, d dataJson,
-- c createdAtMs, l lastActiveAtMs, i idleTimeoutSeconds, a absoluteExpiresAtMs, e expiresAtMs,
-- L leases as JSON {leaseId: "untilMs"} (absent: none), q creation order (server TIME in µs; it
-- breaks ties in eviction order as insertion order does in the memory store), s status (absent:
-- active), r endReason, n endedAtMs.

local EXP, LRU, SUB, ENDED, EV, EVQ, EVC = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]

local ctx = {
  tag = ARGV[1],
  now_s = ARGV[2],
  now = tonumber(ARGV[2]),
  grace = tonumber(ARGV[3]),
  event_prefix = ARGV[4],
  events = 0,
}

-- Numbers go back to Redis and to JavaScript as text that round-trips the double exactly.
local function fmt(n)
  return string.format('%.17g', n)
end

local function session_key(id)
  return ctx.tag .. ':s:' .. id
end

-- Must equal subjectTag() in keys.ts: 12 hex digits of SHA-1(subject).
local function subject_tag(subject)
  return string.sub(redis.sha1hex(subject), 5, 16)
end

-- Byte order, as JavaScript compares these ASCII ids; Lua's `<` on strings follows the locale.
local function bytes_less(a, b)
  local n = math.min(#a, #b)
  for k = 1, n do
    local x, y = string.byte(a, k), string.byte(b, k)
    if x ~= y then return x < y end
  end
  return #a < #b
end

local function decode_leases(json)
  if not json then return {} end
  return cjson.decode(json)
end

-- Mirrors computeExpiresAtMs in src/core/expiry.ts exactly: the idle deadline runs from the later
-- of the last activity and the longest lease, and nothing outlives the absolute deadline.
local function compute_expires(last_active, idle_seconds, absolute, leases)
  local held = last_active
  for _, until_ms in pairs(leases) do
    local u = tonumber(until_ms)
    if u > held then held = u end
  end
  return math.min(absolute, held + idle_seconds * 1000)
end

-- Mirrors liveLeases in src/core/expiry.ts: drops leases that no longer hold anything at now.
local function live_leases(leases, now)
  local live = {}
  for lease_id, until_ms in pairs(leases) do
    if tonumber(until_ms) > now then live[lease_id] = until_ms end
  end
  return live
end

-- The session's expiresAtMs if it is active at now (isActiveAt in expiry.ts), else nil.
local function active_expiry(key)
  local f = redis.call('HMGET', key, 's', 'e')
  if f[1] or not f[2] then return nil end
  local e = tonumber(f[2])
  if e > ctx.now then return e end
  return nil
end

-- The hash outlives the session's deadline by the grace, so Redis frees it even if no sweeper
-- ever runs, and an ended session stays readable until the sweeper purges it.
local function keep_until_deadline(key, expires_at)
  redis.call('PEXPIRE', key, math.floor(math.max(expires_at - ctx.now, 0) + ctx.grace))
end

-- {id, field, value, ...}: the reply shape record-codec.ts decodes.
local function record_reply(id)
  local reply = { id }
  local flat = redis.call('HGETALL', session_key(id))
  for k = 1, #flat do reply[k + 1] = flat[k] end
  return reply
end

-- Appends one event with a snapshot of the session as it is now (secret hash left out).
local function append_event(event_type, at_ms, reason, id)
  ctx.events = ctx.events + 1
  local event_id = ctx.event_prefix .. ctx.events
  local flat = redis.call('HGETALL', session_key(id))
  local snapshot = {}
  for k = 1, #flat, 2 do
    if flat[k] ~= 'h' and flat[k] ~= 'q' then
      snapshot[#snapshot + 1] = flat[k]
      snapshot[#snapshot + 1] = flat[k + 1]
    end
  end
  local payload = { k = event_type, at = at_ms, r = reason or cjson.null, id = id, s = snapshot }
  redis.call('HSET', EV, event_id, cjson.encode(payload))
  redis.call('RPUSH', EVQ, event_id)
end

-- Ends a session that is active (callers check): marks the hash, moves the id from the active
-- indexes to the tombstone index, and appends the event. ended_at is a string of epoch ms.
local function end_session(id, status, reason, ended_at, event_type)
  local key = session_key(id)
  local subject = redis.call('HGET', key, 'u')
  redis.call('HSET', key, 's', status, 'r', reason, 'n', ended_at)
  redis.call('PEXPIRE', key, ctx.grace)
  redis.call('ZREM', EXP, id)
  redis.call('ZREM', LRU, id)
  redis.call('ZREM', SUB, subject_tag(subject) .. id)
  redis.call('ZADD', ENDED, ended_at, id)
  append_event(event_type, ended_at, reason, id)
end

-- Least recently active first; equal activity in creation order, as the memory store's stable
-- sort over insertion order does.
local function lru_less(x, y)
  if x.l ~= y.l then return x.l < y.l end
  if x.q ~= y.q then return x.q < y.q end
  return bytes_less(x.id, y.id)
end

-- Active sessions of a subject: {id, c, l, q}. Drops index entries whose hash Redis has already
-- freed. Members are filtered on the stored subject, so a tag collision cannot mix subjects.
local function subject_active(subject, tag)
  local out = {}
  local members = redis.call('ZRANGEBYLEX', SUB, '[' .. tag, '[' .. tag .. '\255')
  for _, member in ipairs(members) do
    local id = string.sub(member, #tag + 1)
    local f = redis.call('HMGET', session_key(id), 'u', 's', 'e', 'c', 'l', 'q')
    if not f[1] then
      redis.call('ZREM', SUB, member)
    elseif f[1] == subject and not f[2] and tonumber(f[3]) > ctx.now then
      out[#out + 1] = { id = id, c = tonumber(f[4]), l = tonumber(f[5]), q = tonumber(f[6]) }
    end
  end
  return out
end

-- Up to k active sessions of this shard, least recently active first, skipping ids in `skip`.
-- Reads the LRU index past the k-th entry while scores tie, so ties resolve by creation order.
local function oldest_active(k, skip)
  local found = {}
  local boundary = nil
  local offset, page_size = 0, math.max(k, 32)
  while k > 0 do
    local page = redis.call('ZRANGE', LRU, offset, offset + page_size - 1, 'WITHSCORES')
    if #page == 0 then break end
    for j = 1, #page, 2 do
      local id, l = page[j], tonumber(page[j + 1])
      if boundary and l > boundary then
        page = nil
        break
      end
      if not skip[id] then
        local f = redis.call('HMGET', session_key(id), 's', 'e', 'q')
        if f[2] and not f[1] and tonumber(f[2]) > ctx.now then
          found[#found + 1] = { id = id, l = l, q = tonumber(f[3]) }
          if #found == k then boundary = l end
        end
      end
    end
    if not page then break end
    offset = offset + page_size
  end
  table.sort(found, lru_less)
  while #found > k do table.remove(found) end
  return found
end

