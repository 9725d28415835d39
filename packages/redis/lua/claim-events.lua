-- claim-events.lua: claims outbox events of one shard for one consumer group.
-- KEYS[1..7] the shard's indexes (see lib.lua).
-- ARGV[1..4] context (see lib.lua); ARGV[5] max events; ARGV[6] leaseMs (ms a claim holds);
-- ARGV[7] the group.
-- Returns {eventId, attempts, payloadJson, ...}: first events the group holds whose hold ran out
-- (attempts counts the group's earlier claims), then events past the group's cursor, oldest
-- first. Each is held for the group until now + leaseMs.
-- Side effects: adopts the legacy outbox; moves the group's cursor; drops the group's claims on
-- events already deleted. Of concurrent claimers of a group each event goes to exactly one
-- (scripts run one at a time).
local limit, lease, group = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local LOG, CURSORS, ATTEMPTS = ctx.tag .. ':evl', ctx.tag .. ':evk', ctx.tag .. ':eva'
local CLAIMS = ctx.tag .. ':evc:' .. group
local until_ms = fmt(ctx.now + lease)
local reply, claimed = {}, 0

adopt_legacy_outbox()

local function take(event_id, attempts, payload)
  redis.call('ZADD', CLAIMS, until_ms, event_id)
  reply[#reply + 1] = event_id
  reply[#reply + 1] = attempts
  reply[#reply + 1] = payload
  claimed = claimed + 1
end

if limit > 0 then
  local due = redis.call('ZRANGEBYSCORE', CLAIMS, '-inf', ctx.now_s, 'LIMIT', 0, limit)
  for _, event_id in ipairs(due) do
    local payload = redis.call('HGET', EV, event_id)
    if payload then
      take(event_id, redis.call('HINCRBY', ATTEMPTS, group .. ' ' .. event_id, 1), payload)
    else
      redis.call('ZREM', CLAIMS, event_id)
      redis.call('HDEL', ATTEMPTS, group .. ' ' .. event_id)
    end
  end
end
if claimed < limit then
  local cursor = redis.call('HGET', CURSORS, group) or '0'
  local fresh = redis.call('ZRANGEBYSCORE', LOG, '(' .. cursor, '+inf', 'WITHSCORES', 'LIMIT', 0,
    limit - claimed)
  for k = 1, #fresh, 2 do
    local payload = redis.call('HGET', EV, fresh[k])
    if payload then take(fresh[k], 0, payload) end
    cursor = fresh[k + 1]
  end
  if #fresh > 0 then redis.call('HSET', CURSORS, group, cursor) end
end
return reply
