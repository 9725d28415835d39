-- revoke.lua: revokes the listed sessions of one shard that are active at now.
-- KEYS[1..7] the shard's indexes (see lib.lua).
-- ARGV[1..4] context (see lib.lua); ARGV[5] the reason; ARGV[6] the event type (`revoked`, or
-- `evicted` when another shard's creation evicts for the global limit); ARGV[7..] session ids.
-- Returns the revoked records ({id, field, value, ...} each) in the order given; sessions already
-- ended, past their deadline or unknown are skipped, so of concurrent callers exactly one gets a
-- given session.
-- Side effects: status revoked, endReason, endedAtMs = now; the id moves to the tombstone index;
-- one event per session; the hash TTL becomes the grace.
local revoked = {}
for k = 7, #ARGV do
  local id = ARGV[k]
  if load_active(session_key(id)) then
    end_session(id, 'revoked', ARGV[5], ctx.now_s, ARGV[6])
    revoked[#revoked + 1] = record_reply(id)
  end
end
return revoked
