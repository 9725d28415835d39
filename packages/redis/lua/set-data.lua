-- set-data.lua: replaces the data of an active session.
-- KEYS[1..7] the shard's indexes (see lib.lua); KEYS[8] the session's hash.
-- ARGV[1..4] context (see lib.lua); ARGV[5] the session id; ARGV[6] the data as JSON text.
-- Returns the updated record ({id, field, value, ...}), or false when the session is not active
-- at now (nothing written).
-- Side effects: field d only; activity, deadline and TTL are unchanged.
local key, id = KEYS[8], ARGV[5]
if not load_active(key) then return false end
redis.call('HSET', key, 'd', ARGV[6])
return record_reply(id)
