-- set-lease.lua: adds, renews or removes one lease of an active session.
-- KEYS[1..7] the shard's indexes (see lib.lua); KEYS[8] the session's hash.
-- ARGV[1..4] context (see lib.lua); ARGV[5] the session id; ARGV[6] the lease id;
-- ARGV[7] epoch ms until which the lease holds the session, or '' to remove the lease.
-- Returns the updated record ({id, field, value, ...}), or false when the session is not active
-- at now (nothing written).
-- Side effects: leases already past are dropped (live_leases mirrors liveLeases);
-- lastActiveAtMs = now; expiresAtMs recomputed and re-indexed; the hash TTL follows it.
local key, id = KEYS[8], ARGV[5]
local s = load_active(key)
if not s then return false end
local leases = live_leases(s.leases, ctx.now)
if ARGV[7] == '' then
  leases[ARGV[6]] = nil
else
  leases[ARGV[6]] = ARGV[7]
end
if next(leases) == nil then
  redis.call('HDEL', key, 'L')
else
  redis.call('HSET', key, 'L', cjson.encode(leases))
end
set_activity(key, id, s, leases)
return record_reply(id)
