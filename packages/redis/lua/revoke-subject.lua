-- revoke-subject.lua: revokes every session of a subject that is active at now.
-- KEYS[1..7] the shard that holds the subject's sessions (see lib.lua).
-- ARGV[1..4] context (see lib.lua); ARGV[5] subject; ARGV[6] subjectTag; ARGV[7] the reason.
-- Returns the revoked records ({id, field, value, ...} each) in creation order.
-- Side effects: as revoke.lua for each session, with event `revoked`.
local mine = subject_active(ARGV[5], ARGV[6])
table.sort(mine, function(x, y)
  if x.q ~= y.q then return x.q < y.q end
  return bytes_less(x.id, y.id)
end)
local revoked = {}
for _, session in ipairs(mine) do
  end_session(session.id, 'revoked', ARGV[7], ctx.now_s, 'revoked')
  revoked[#revoked + 1] = record_reply(session.id)
end
return revoked
