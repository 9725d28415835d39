-- list.lua: one page of a subject's active sessions, most recently created first.
-- KEYS[1..7] the shard that holds the subject's sessions (see lib.lua).
-- ARGV[1..4] context (see lib.lua); ARGV[5] subject; ARGV[6] subjectTag; ARGV[7] page size;
-- ARGV[8] createdAtMs of the cursor position or '' for the first page; ARGV[9] its session id.
-- Returns {more (1 when sessions follow this page, else 0), record, record, ...}, records as
-- {id, field, value, ...}, ordered by createdAtMs then id (byte order), both descending.
-- Side effects: none, except dropping index entries whose hash Redis has already freed.
local limit = tonumber(ARGV[7])
local after_c = ARGV[8] ~= '' and tonumber(ARGV[8]) or nil
local after_id = ARGV[9]
local page = {}
for _, s in ipairs(subject_active(ARGV[5], ARGV[6])) do
  if not after_c or s.c < after_c or (s.c == after_c and bytes_less(s.id, after_id)) then
    page[#page + 1] = s
  end
end
table.sort(page, function(x, y)
  if x.c ~= y.c then return x.c > y.c end
  return bytes_less(y.id, x.id)
end)
local reply = { #page > limit and 1 or 0 }
for k = 1, math.min(limit, #page) do reply[k + 1] = record_reply(page[k].id) end
return reply
