-- lib.lua: helpers shared by every script. The loader (lua-scripts.ts) prepends this file to each
-- script, so a script's SHA covers the helpers it runs with.
--
-- Every script works on ONE shard and receives the same context:
--   KEYS[1] <tag>:exp    zset  active sessions (status active), score expiresAtMs (sweeper index)
--   KEYS[2] <tag>:lru    zset  active sessions, score lastActiveAtMs (global eviction order); kept
--                              only under a global cap with policy evict (see index_activity)
--   KEYS[3] <tag>:sub    zset  active sessions by subject, all scores 0, member <subjectTag><id>
--   KEYS[4] <tag>:ended  zset  ended sessions (tombstones), score endedAtMs (purge index)
--   KEYS[5] <tag>:ev     hash  outbox payloads: eventId -> JSON
--   KEYS[6] <tag>:evq    list  the outbox before consumer groups (ids never claimed); adopted
--                              into :evl by adopt_legacy_outbox, never written any more
--   KEYS[7] <tag>:evc    zset  the same, ids claimed (score claimedAtMs)
--   ARGV[1] <tag>        the shard's key prefix, e.g. `sk:{03f}`
--   ARGV[2] now          epoch ms (the caller's clock; scripts never read the server clock for it)
--   ARGV[3] grace        ms a session hash outlives its deadline (tombstone retention), > 0
--   ARGV[4] eventPrefix  prefix of the ids of events this call appends (`<shard>-<nonce>-`)
-- Session hashes are `<tag>:s:<id>`; scripts build them from ARGV[1], so every key a script
-- touches carries the shard's hash tag and lives in the same Cluster slot as its KEYS. So do the
-- consumer-group keys of the outbox (see outbox.ts):
--   <tag>:evn          string  the shard's event counter (each event's position)
--   <tag>:evl          zset    the outbox: event ids, score position, oldest first
--   <tag>:evk          hash    group -> highest position the group has claimed (its cursor)
--   <tag>:evc:<group>  zset    ids the group holds, score epoch ms until which it holds them
--   <tag>:eva          hash    '<group> <eventId>' -> earlier claims of the event by the group
--
-- Session hash fields (record-codec.ts decodes them): u subject, h secretHash, d dataJson,
-- c createdAtMs, l lastActiveAtMs, i idleTimeoutSeconds, A absoluteExpiresAtMs - c,
-- Q creation order - c * 1000 (creation order: server TIME in µs; it breaks ties in eviction
-- order as insertion order does in the memory store), L leases as JSON {leaseId: "untilMs"}
-- (absent: none), s status (absent: active), r endReason, n endedAtMs; for sessions with a refresh
-- family only: f its current hash, p the previous hash, o the nonce (each absent when empty),
-- T rotatedAtMs - c; after its first rotation also P the previous nonce, g the ancestors' keys
-- (space-separated, newest first) and K committedAtMs - c (the server's TIME at the rotation).
-- Why this shape: a hash stays a listpack only while every value is <= 64 bytes, and a listpack
-- is allocated in 32-byte steps around 200 bytes, so a few bytes decide between size classes.
-- Hence A, Q and T are differences (a small number takes 2-6 bytes, an epoch 10) and expiresAtMs
-- is not stored: load() recomputes it (compute_expires) as record-codec.ts does. Records of the
-- previous layout carry a, q and e as absolute fields, as do values a difference would not give
-- back exactly (a, q, t); absolute fields are read wherever present, so both layouts coexist.

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

-- Mirrors computeExpiresAtMs in packages/sessionkeeper/src/core/expiry.ts exactly: the idle deadline runs from the later
-- of the last activity and the longest lease, and nothing outlives the absolute deadline.
local function compute_expires(last_active, idle_seconds, absolute, leases)
  local held = last_active
  for _, until_ms in pairs(leases) do
    local u = tonumber(until_ms)
    if u > held then held = u end
  end
  return math.min(absolute, held + idle_seconds * 1000)
end

-- Mirrors liveLeases in packages/sessionkeeper/src/core/expiry.ts: drops leases that no longer hold anything at now.
local function live_leases(leases, now)
  local live = {}
  for lease_id, until_ms in pairs(leases) do
    if tonumber(until_ms) > now then live[lease_id] = until_ms end
  end
  return live
end

-- `value` for storage as a difference from `base` (field `rel`) when adding it back gives exactly
-- `value` (always for whole milliseconds), else as itself (field `abs`). Appends name and value.
local function put_relative(fields, rel, abs, base, value)
  local diff = value - base
  if base + diff == value then
    fields[#fields + 1] = rel
    fields[#fields + 1] = fmt(diff)
  else
    fields[#fields + 1] = abs
    fields[#fields + 1] = fmt(value)
  end
end

-- Appends the refresh family's fields (see the list above).
local function put_refresh(fields, created, hash, previous_hash, nonce, rotated_at)
  fields[#fields + 1] = 'f'
  fields[#fields + 1] = hash
  if previous_hash ~= '' then
    fields[#fields + 1] = 'p'
    fields[#fields + 1] = previous_hash
  end
  if nonce ~= '' then
    fields[#fields + 1] = 'o'
    fields[#fields + 1] = nonce
  end
  put_relative(fields, 'T', 't', created, rotated_at)
end

local LOAD_FIELDS = { 'u', 's', 'c', 'l', 'i', 'a', 'A', 'e', 'L', 'q', 'Q' }

-- The session in hash `key`, decoded as record-codec.ts does, or nil when Redis freed the hash:
-- {subject, ended, c, l, i, a, leases, q, e, stored_e}. stored_e: the hash has an e field.
local function load(key)
  local f = redis.call('HMGET', key, unpack(LOAD_FIELDS))
  if not f[1] then return nil end
  local c = tonumber(f[3])
  local s = {
    subject = f[1],
    ended = f[2] ~= false,
    c = c,
    l = tonumber(f[4]),
    i = tonumber(f[5]),
    a = f[6] and tonumber(f[6]) or c + tonumber(f[7]),
    leases = decode_leases(f[9]),
    q = f[10] and tonumber(f[10]) or c * 1000 + tonumber(f[11]),
    stored_e = f[8] ~= false,
  }
  s.e = f[8] and tonumber(f[8]) or compute_expires(s.l, s.i, s.a, s.leases)
  return s
end

-- The session if it is active at now (isActiveAt in expiry.ts), else nil.
local function load_active(key)
  local s = load(key)
  if s and not s.ended and s.e > ctx.now then return s end
  return nil
end

-- The hash outlives the session's deadline by the grace, so Redis frees it even if no sweeper
-- ever runs, and an ended session stays readable until the sweeper purges it.
local function keep_until_deadline(key, expires_at)
  redis.call('PEXPIRE', key, math.floor(math.max(expires_at - ctx.now, 0) + ctx.grace))
end

-- Records activity at now with these leases: l = now, the deadline recomputed and re-indexed
-- (an e field of an older record goes: it would be stale), the hash TTL following it.
local function set_activity(key, id, s, leases)
  local expires_at = compute_expires(ctx.now, s.i, s.a, leases)
  redis.call('HSET', key, 'l', ctx.now_s)
  if s.stored_e then redis.call('HDEL', key, 'e') end
  redis.call('ZADD', EXP, fmt(expires_at), id)
  -- XX: only sessions the activity index holds (index_activity adds the others when needed).
  redis.call('ZADD', LRU, 'XX', ctx.now_s, id)
  keep_until_deadline(key, expires_at)
end

-- {id, field, value, ...}: the reply shape record-codec.ts decodes.
local function record_reply(id)
  local reply = { id }
  local flat = redis.call('HGETALL', session_key(id))
  for k = 1, #flat do reply[k + 1] = flat[k] end
  return reply
end

-- Fields an event's snapshot leaves out: secrets' hashes (and the refresh family) and the
-- creation order.
local NOT_IN_EVENTS = {
  h = true, q = true, Q = true, f = true, p = true, o = true, T = true, t = true,
  P = true, g = true, K = true, k = true,
}

-- Appends one event with a snapshot of the session as it is now.
local function append_event(event_type, at_ms, reason, id)
  ctx.events = ctx.events + 1
  local event_id = ctx.event_prefix .. ctx.events
  local flat = redis.call('HGETALL', session_key(id))
  local snapshot = {}
  for k = 1, #flat, 2 do
    local name = flat[k]
    if not NOT_IN_EVENTS[name] then
      snapshot[#snapshot + 1] = name
      snapshot[#snapshot + 1] = flat[k + 1]
    end
  end
  local payload = { k = event_type, at = at_ms, r = reason or cjson.null, id = id, s = snapshot }
  redis.call('HSET', EV, event_id, cjson.encode(payload))
  redis.call('ZADD', ctx.tag .. ':evl', redis.call('INCR', ctx.tag .. ':evn'), event_id)
end

-- Moves events of the layout before consumer groups (:evq, :evc) into the log, claimed ones
-- first (they are older), so every group gets them. A no-op once both keys are gone.
local function adopt_legacy_outbox()
  local ids = redis.call('ZRANGE', EVC, 0, -1)
  for _, event_id in ipairs(redis.call('LRANGE', EVQ, 0, -1)) do ids[#ids + 1] = event_id end
  for _, event_id in ipairs(ids) do
    redis.call('HDEL', EV, '#' .. event_id)
    if redis.call('HEXISTS', EV, event_id) == 1 then
      redis.call('ZADD', ctx.tag .. ':evl', redis.call('INCR', ctx.tag .. ':evn'), event_id)
    end
  end
  redis.call('DEL', EVQ, EVC)
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
    local s = load(session_key(id))
    if not s then
      redis.call('ZREM', SUB, member)
    elseif s.subject == subject and not s.ended and s.e > ctx.now then
      out[#out + 1] = { id = id, c = s.c, l = s.l, q = s.q }
    end
  end
  return out
end

-- The activity index exists for global eviction only, so sessions are added to it on creation
-- only under a global cap with policy evict (create.lua); activity updates only what it holds.
-- Sessions created without such a cap (before one was configured, or by a process configured
-- without it) are missing. Every reader calls this first: it adds them, scored by their l, so
-- eviction always ranks every active session. The index holds a subset of the expiry index
-- (both gain a session on creation, lose it together), so equal sizes mean nothing is missing;
-- the scan runs only when something is.
local function index_activity()
  if redis.call('ZCARD', LRU) >= redis.call('ZCARD', EXP) then return end
  for _, id in ipairs(redis.call('ZRANGE', EXP, 0, -1)) do
    if not redis.call('ZSCORE', LRU, id) then
      local l = redis.call('HGET', session_key(id), 'l')
      if l then
        redis.call('ZADD', LRU, l, id)
      else
        redis.call('ZREM', EXP, id) -- Redis freed the hash; sweep.lua would drop it alike
      end
    end
  end
end

-- Up to k active sessions of this shard, least recently active first, skipping ids in `skip`.
-- Reads the LRU index past the k-th entry while scores tie, so ties resolve by creation order.
local function oldest_active(k, skip)
  index_activity()
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
        local s = load_active(session_key(id))
        if s then
          found[#found + 1] = { id = id, l = l, q = s.q }
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
