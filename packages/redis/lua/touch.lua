-- touch.lua: records activity on an active session.
-- KEYS[1..7] the shard's indexes (see lib.lua); KEYS[8] the session's hash.
-- ARGV[1..4] context (see lib.lua); ARGV[5] the session id.
-- Returns 1 when the session was active at now and is touched, 0 otherwise (nothing written).
-- Side effects: lastActiveAtMs = now; expiresAtMs recomputed (compute_expires mirrors
-- computeExpiresAtMs) and re-indexed; the hash TTL follows the new deadline.
local key, id = KEYS[8], ARGV[5]
local s = load_active(key)
if not s then return 0 end
set_activity(key, id, s, s.leases)
return 1
