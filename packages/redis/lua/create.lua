-- create.lua: inserts a session unless a limit refuses it, evicting to make room.
-- KEYS[1..7] the shard's indexes (see lib.lua); KEYS[8] the new session's hash.
-- ARGV[1..4] context (see lib.lua); then
--   ARGV[5] id, ARGV[6] subject, ARGV[7] subjectTag, ARGV[8] secretHash, ARGV[9] dataJson,
--   ARGV[10] createdAtMs, ARGV[11] lastActiveAtMs, ARGV[12] idleTimeoutSeconds,
--   ARGV[13] absoluteExpiresAtMs, ARGV[14] leases JSON or '', ARGV[15] expiresAtMs (epoch ms,
--   as the core computed it), ARGV[16] per-subject max (-1: none), ARGV[17] its policy,
--   ARGV[18] global max (-1: none), ARGV[19] its policy, ARGV[20] active sessions in all OTHER
--   shards (the caller's snapshot), ARGV[21] refresh hash or '' (no refresh family), ARGV[22]
--   its previous hash or '', ARGV[23] its nonce or '', ARGV[24] its rotatedAtMs, ARGV[25..]
--   global eviction victims in this shard chosen by the caller, least recently active first.
-- Returns: {1, subjectEvictedIds, globalEvictedIds} | {0, 'subject'|'global', max} | -1 (the id
-- exists).
-- Side effects: evicted sessions are revoked (reason `evicted`, event `evicted`); the session is
-- stored active with a TTL of its deadline plus the grace; a `created` event is appended.
-- The per-subject limit is exact: the subject's sessions all live in this shard. The global limit
-- is as exact as the caller's count of the other shards (see global-limit.ts).
local key = KEYS[8]
if redis.call('EXISTS', key) == 1 then return -1 end

local id, subject, tag = ARGV[5], ARGV[6], ARGV[7]
local per_max, per_policy = tonumber(ARGV[16]), ARGV[17]
local global_max, global_policy = tonumber(ARGV[18]), ARGV[19]
local others_active = tonumber(ARGV[20])
local now_excl = '(' .. ctx.now_s

-- Both scopes are checked before anything is evicted, so a refusal leaves no trace.
local mine = subject_active(subject, tag)
if per_max >= 0 and per_policy == 'refuse' and #mine >= per_max then
  return { 0, 'subject', per_max }
end
if global_max >= 0 and global_policy == 'refuse'
  and redis.call('ZCOUNT', EXP, now_excl, '+inf') + others_active >= global_max then
  return { 0, 'global', global_max }
end

local subject_evicted, global_evicted = {}, {}
if per_max >= 0 then
  table.sort(mine, lru_less)
  for k = 1, math.min(#mine - per_max + 1, #mine) do
    end_session(mine[k].id, 'revoked', 'evicted', ctx.now_s, 'evicted')
    subject_evicted[#subject_evicted + 1] = mine[k].id
  end
end

if global_max >= 0 then
  local total = redis.call('ZCOUNT', EXP, now_excl, '+inf') + others_active
  for k = 25, #ARGV do
    if total < global_max then break end
    local victim = ARGV[k]
    if load_active(session_key(victim)) then
      end_session(victim, 'revoked', 'evicted', ctx.now_s, 'evicted')
      global_evicted[#global_evicted + 1] = victim
      total = total - 1
    end
  end
  -- The caller's snapshot may be stale (concurrent creations): keep this shard within the cap.
  while total >= global_max do
    local victim = oldest_active(1, {})[1]
    if not victim then break end
    end_session(victim.id, 'revoked', 'evicted', ctx.now_s, 'evicted')
    global_evicted[#global_evicted + 1] = victim.id
    total = total - 1
  end
end

local created, absolute = tonumber(ARGV[10]), tonumber(ARGV[13])
local time = redis.call('TIME')
local order = tonumber(time[1]) * 1000000 + tonumber(time[2])
local fields = { 'u', subject, 'h', ARGV[8], 'd', ARGV[9], 'c', ARGV[10], 'l', ARGV[11], 'i', ARGV[12] }
put_relative(fields, 'A', 'a', created, absolute)
put_relative(fields, 'Q', 'q', created * 1000, order)
if ARGV[21] ~= '' then
  put_refresh(fields, created, ARGV[21], ARGV[22], ARGV[23], tonumber(ARGV[24]))
end
local leases = {}
if ARGV[14] ~= '' then
  fields[#fields + 1] = 'L'
  fields[#fields + 1] = ARGV[14]
  leases = cjson.decode(ARGV[14])
end
-- expiresAtMs is recomputed on every read; kept only if the caller's differs from the formula.
local expires_at = tonumber(ARGV[15])
if expires_at ~= compute_expires(tonumber(ARGV[11]), tonumber(ARGV[12]), absolute, leases) then
  fields[#fields + 1] = 'e'
  fields[#fields + 1] = ARGV[15]
end
redis.call('HSET', key, unpack(fields))
keep_until_deadline(key, expires_at)
redis.call('ZADD', EXP, ARGV[15], id)
-- Only global eviction reads the activity index (see index_activity in lib.lua).
if global_max >= 0 and global_policy == 'evict' then redis.call('ZADD', LRU, ARGV[11], id) end
redis.call('ZADD', SUB, 0, tag .. id)
append_event('created', ctx.now_s, nil, id)
return { 1, subject_evicted, global_evicted }
