-- rotate-refresh.lua: rotates a session's refresh family when the presented hash is current.
-- The decision mirrors refreshDecision and applyRotation in packages/sessionkeeper/src/core/refresh-rotation.ts.
-- KEYS[1..7] the shard's indexes (see lib.lua); KEYS[8] the session's hash.
-- ARGV[1..4] context (see lib.lua); ARGV[5] the session id; ARGV[6] the presented hash;
-- ARGV[7] the successor's hash; ARGV[8] its nonce; ARGV[9] graceMs; ARGV[10] how many ancestors
-- to remember; ARGV[11] how many characters of a hash an ancestor is remembered by.
-- The grace window runs on the server's clock (TIME, read here): the commit time of a rotation
-- is when this script ran, however long the command waited (a stalled Redis runs it late).
-- Returns {outcome} for an unknown session, else {outcome, record}: outcome 1 rotated,
-- 2 replayed (the previous hash, at any time; the one before it within graceMs of the last
-- commit), 3 reused (the one before the previous after graceMs, or an older remembered
-- ancestor), 0 rejected (no family, a hash the family does not know, or not active at now).
-- Side effects: rotated: f = successor, p = presented, o = nonce, P = the old nonce, g = the
-- old previous hash's key joined to the ancestors (newest first, space-separated), K = commit
-- time - c, rotatedAtMs = now, activity recorded as touch.lua does, event `refresh.rotated`.
-- reused: event `refresh.reused`, then the session is revoked (reason `refresh-token-reused`,
-- event `revoked`). Otherwise nothing.
-- Scripts run one at a time, so of concurrent rotations with one hash exactly one rotates.
local key, id, presented = KEYS[8], ARGV[5], ARGV[6]
local limit, key_chars = tonumber(ARGV[10]), tonumber(ARGV[11])
local s = load(key)
if not s then return { 0 } end
local f = redis.call('HMGET', key, 'f', 'p', 'o', 'g', 'K', 'k')
if not f[1] then return { 0, record_reply(id) } end
local ancestors = {}
if f[4] then
  for a in string.gmatch(f[4], '%S+') do ancestors[#ancestors + 1] = a end
end
local depth = -1
if presented == f[1] then
  depth = 0
elseif presented == f[2] then
  depth = 1
else
  local presented_key = string.sub(presented, 1, key_chars)
  for j, a in ipairs(ancestors) do
    if a == presented_key then
      depth = j + 1
      break
    end
  end
end
if depth < 0 or s.ended or s.e <= ctx.now then return { 0, record_reply(id) } end
local time = redis.call('TIME')
local store_now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if depth == 0 then
  if f[2] then table.insert(ancestors, 1, string.sub(f[2], 1, key_chars)) end
  while #ancestors > limit do table.remove(ancestors) end
  local fields = {}
  put_refresh(fields, s.c, ARGV[7], presented, ARGV[8], ctx.now)
  if f[3] then
    fields[#fields + 1] = 'P'
    fields[#fields + 1] = f[3]
  end
  if #ancestors > 0 then
    fields[#fields + 1] = 'g'
    fields[#fields + 1] = table.concat(ancestors, ' ')
  end
  put_relative(fields, 'K', 'k', s.c, store_now)
  redis.call('HDEL', key, 'o', 'T', 't', 'P', 'g', 'K', 'k')
  redis.call('HSET', key, unpack(fields))
  set_activity(key, id, s, s.leases)
  append_event('refresh.rotated', ctx.now_s, nil, id)
  return { 1, record_reply(id) }
end
if depth == 1 then return { 2, record_reply(id) } end
if depth == 2 then
  local committed = f[6] and tonumber(f[6]) or (f[5] and s.c + tonumber(f[5]))
  if committed and store_now <= committed + tonumber(ARGV[9]) then
    return { 2, record_reply(id) }
  end
end
local reason = 'refresh-token-reused'
append_event('refresh.reused', ctx.now_s, reason, id)
end_session(id, 'revoked', reason, ctx.now_s, 'revoked')
return { 3, record_reply(id) }
