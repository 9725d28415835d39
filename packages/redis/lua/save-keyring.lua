-- save-keyring.lua: compare-and-set of the signing keyring document.
-- Runs alone (lib.lua is not prepended): its only key is the keyring, in its own slot.
-- KEYS[1] <prefix>{keyring}  hash  v version (absent: none saved yet), j the JSON document
-- ARGV[1] the version the caller read (0: none); ARGV[2] the new JSON document.
-- Returns 1 when saved as version ARGV[1] + 1, 0 (nothing written) when the stored version
-- differs: another writer got there first.
local stored = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if stored ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', stored + 1, 'j', ARGV[2])
return 1
