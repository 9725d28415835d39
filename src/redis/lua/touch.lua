-- touch.lua: records activity on an active session.
-- KEYS[1..7] the shard's indexes (see lib.lua); KEYS[8] the session's hash.
-- ARGV[1..4] context (see lib.lua); ARGV[5] the session id.
-- Returns 1 when the session was active at now and is touched, 0 otherwise (nothing written).
-- Side effects: lastActiveAtMs = now; expiresAtMs recomputed (compute_expires mirrors
-- computeExpiresAtMs) and re-indexed; the hash TTL follows the new deadline.
local key, id = KEYS[8], ARGV[5]
if not active_expiry(key) then return 0 end
local f = redis.call('HMGET', key, 'i', 'a', 'L')
local expires_at = compute_expires(ctx.now, tonumber(f[1]), tonumber(f[2]), decode_leases(f[3]))
redis.call('HSET', key, 'l', ctx.now_s, 'e', fmt(expires_at))
redis.call('ZADD', EXP, fmt(expires_at), id)
redis.call('ZADD', LRU, ctx.now_s, id)
keep_until_deadline(key, expires_at)
return 1
