-- settle-events.lua: acknowledges events of one consumer group and deletes what no group needs.
-- KEYS[1..7] the shard's indexes (see lib.lua).
-- ARGV[1..4] context (see lib.lua); ARGV[5] the acknowledging group ('' for none);
-- ARGV[6] cutoffMs: with no group registered, events whose time is before it are deleted ('' for
-- none); ARGV[7] n, the number of registered groups; ARGV[8..7+n] the registered groups;
-- ARGV[8+n..] the event ids the group acknowledges.
-- Returns how many events were deleted.
-- Side effects: the group's claims on the ids go; state of groups no longer registered goes;
-- events from the oldest on are deleted while every registered group is done with them (its
-- cursor passed the event and it holds no claim on it). At most 1000 deletions per call. Once the
-- log is empty the shard's positions are reset (no key is left behind).
local group, cutoff, n = ARGV[5], ARGV[6], tonumber(ARGV[7])
local LOG, CURSORS, ATTEMPTS = ctx.tag .. ':evl', ctx.tag .. ':evk', ctx.tag .. ':eva'
local registered, groups = {}, {}
for k = 8, 7 + n do
  registered[ARGV[k]] = true
  groups[#groups + 1] = ARGV[k]
end

if group ~= '' then
  local claims = ctx.tag .. ':evc:' .. group
  for k = 8 + n, #ARGV do
    redis.call('ZREM', claims, ARGV[k])
    redis.call('HDEL', ATTEMPTS, group .. ' ' .. ARGV[k])
  end
end

-- Forgotten groups: their cursors and claims go (their attempt counts go with the events).
for _, name in ipairs(redis.call('HKEYS', CURSORS)) do
  if not registered[name] then
    redis.call('HDEL', CURSORS, name)
    redis.call('DEL', ctx.tag .. ':evc:' .. name)
    local scan = '0'
    repeat
      local page = redis.call('HSCAN', ATTEMPTS, scan, 'MATCH', name .. ' *', 'COUNT', 1000)
      scan = page[1]
      for k = 1, #page[2], 2 do redis.call('HDEL', ATTEMPTS, page[2][k]) end
    until scan == '0'
  end
end

local cursors = {}
for _, name in ipairs(groups) do
  cursors[name] = tonumber(redis.call('HGET', CURSORS, name) or '0')
end

local function done_by_all(event_id, position)
  if n == 0 then
    if cutoff == '' then return false end
    local payload = redis.call('HGET', EV, event_id)
    return payload == false or tonumber(cjson.decode(payload).at) < tonumber(cutoff)
  end
  for _, name in ipairs(groups) do
    if cursors[name] < position then return false end
    if redis.call('ZSCORE', ctx.tag .. ':evc:' .. name, event_id) then return false end
  end
  return true
end

local deleted = 0
while deleted < 1000 do
  local head = redis.call('ZRANGE', LOG, 0, 0, 'WITHSCORES')
  if #head == 0 or not done_by_all(head[1], tonumber(head[2])) then break end
  redis.call('ZREM', LOG, head[1])
  redis.call('HDEL', EV, head[1])
  for _, name in ipairs(groups) do redis.call('HDEL', ATTEMPTS, name .. ' ' .. head[1]) end
  deleted = deleted + 1
end
-- An empty log needs no positions: the counter and every cursor start again from 0 together,
-- so a shard whose events are all delivered keeps no keys.
if redis.call('ZCARD', LOG) == 0 then
  redis.call('DEL', ctx.tag .. ':evn', CURSORS, ATTEMPTS)
  for _, name in ipairs(groups) do redis.call('DEL', ctx.tag .. ':evc:' .. name) end
end
return deleted
