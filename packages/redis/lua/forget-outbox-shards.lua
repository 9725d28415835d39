-- forget-outbox-shards.lua: drops shards from the outbox hint when nobody re-announced them.
-- Runs alone (lib.lua is not prepended): its only key is the hint, in its own slot.
-- KEYS[1] <prefix>{outbox}:shards  hash  shard (3 hex digits) -> version, bumped (HINCRBY) after
--         every call that appended events to that shard's outbox
-- ARGV    pairs: shard, the version the caller read before it found the shard's outbox empty
-- Returns how many shards were dropped.
-- Side effects: HDEL of each shard whose version is unchanged. A shard that gained events after
-- the caller read its version has a higher version by then, so it stays.
local dropped = 0
for k = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[k]) == ARGV[k + 1] then
    dropped = dropped + redis.call('HDEL', KEYS[1], ARGV[k])
  end
end
return dropped
