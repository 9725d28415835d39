-- oldest-active.lua: candidates for global eviction in one shard (read-only).
-- KEYS[1..7] the shard's indexes (see lib.lua).
-- ARGV[1..4] context (see lib.lua); ARGV[5] k, how many candidates; ARGV[6] subject of the
-- session being created when it lives in this shard, else ''; ARGV[7] its subjectTag;
-- ARGV[8] the per-subject max (-1: none).
-- Returns {subjectActive, subjectEvictions, id, lastActiveAtMs, creationOrder, ...}: how many
-- active sessions the subject holds, how many of them create.lua would evict for the per-subject
-- limit, then up to k active sessions least recently active first, leaving out those subject
-- evictions (they are evicted anyway and already count against the global total).
-- Side effects: none, except dropping index entries whose hash Redis has already freed and
-- adding missing sessions to the activity index (index_activity in lib.lua).
local k, subject, per_max = tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[8])
local skip, subject_count, subject_evictions = {}, 0, 0
if subject ~= '' then
  local mine = subject_active(subject, ARGV[7])
  subject_count = #mine
  if per_max >= 0 then
    table.sort(mine, lru_less)
    subject_evictions = math.max(0, math.min(#mine - per_max + 1, #mine))
    for j = 1, subject_evictions do skip[mine[j].id] = true end
  end
end
local reply = { subject_count, subject_evictions }
for _, s in ipairs(oldest_active(k, skip)) do
  reply[#reply + 1] = s.id
  reply[#reply + 1] = fmt(s.l)
  reply[#reply + 1] = fmt(s.q)
end
return reply
