-- rotate-refresh.lua: rotates a session's refresh family when the presented hash is current.
-- The decision mirrors refreshDecision and applyRotation in src/core/refresh-rotation.ts.
-- KEYS[1..7] the shard's indexes (see lib.lua); KEYS[8] the session's hash.
-- ARGV[1..4] context (see lib.lua); ARGV[5] the session id; ARGV[6] the presented hash;
-- ARGV[7] the successor's hash; ARGV[8] its nonce; ARGV[9] graceMs.
-- Returns {outcome} for an unknown session, else {outcome, record}: outcome 1 rotated,
-- 2 replayed (the previous hash within graceMs of the rotation), 3 reused (the previous hash
-- later), 0 rejected (not active at now, no family, or neither hash).
-- Side effects: rotated: f = successor, p = presented, o = nonce, rotatedAtMs = now, activity
-- recorded as touch.lua does, event `refresh.rotated`. reused: event `refresh.reused`, then the
-- session is revoked (reason `refresh-token-reused`, event `revoked`). Otherwise nothing.
-- Scripts run one at a time, so of concurrent rotations with one hash exactly one rotates.
local key, id, presented = KEYS[8], ARGV[5], ARGV[6]
local s = load(key)
if not s then return { 0 } end
local f = redis.call('HMGET', key, 'f', 'p', 'T', 't')
if not f[1] or s.ended or s.e <= ctx.now then return { 0, record_reply(id) } end
if presented == f[1] then
  local fields = {}
  put_refresh(fields, s.c, ARGV[7], presented, ARGV[8], ctx.now)
  redis.call('HDEL', key, 'o', 'T', 't')
  redis.call('HSET', key, unpack(fields))
  set_activity(key, id, s, s.leases)
  append_event('refresh.rotated', ctx.now_s, nil, id)
  return { 1, record_reply(id) }
end
if presented ~= f[2] then return { 0, record_reply(id) } end
local rotated_at = f[4] and tonumber(f[4]) or s.c + tonumber(f[3])
if ctx.now <= rotated_at + tonumber(ARGV[9]) then return { 2, record_reply(id) } end
local reason = 'refresh-token-reused'
append_event('refresh.reused', ctx.now_s, reason, id)
end_session(id, 'revoked', reason, ctx.now_s, 'revoked')
return { 3, record_reply(id) }
