-- claim-events.lua: claims outbox events of one shard that nobody holds.
-- KEYS[1..7] the shard's indexes (see lib.lua).
-- ARGV[1..4] context (see lib.lua); ARGV[5] max events; ARGV[6] leaseMs (ms a claim holds).
-- Returns {eventId, attempts, payloadJson, ...}: first events whose claim is at least leaseMs old
-- (attempts counts earlier claims), then never-claimed events, oldest first. Claims always take
-- the oldest waiting events, so every claimed event is older than every waiting one.
-- Side effects: claimed events get claimedAtMs = now; ids whose payload was acknowledged are
-- dropped. Of concurrent claimers each event goes to exactly one (scripts run one at a time).
local limit, lease = tonumber(ARGV[5]), tonumber(ARGV[6])
local reply, claimed = {}, 0

local function take(event_id, attempts, payload)
  redis.call('ZADD', EVC, ctx.now_s, event_id)
  reply[#reply + 1] = event_id
  reply[#reply + 1] = attempts
  reply[#reply + 1] = payload
  claimed = claimed + 1
end

if limit > 0 then
  local stale = redis.call('ZRANGEBYSCORE', EVC, '-inf', fmt(ctx.now - lease), 'LIMIT', 0, limit)
  for _, event_id in ipairs(stale) do
    local payload = redis.call('HGET', EV, event_id)
    if payload then
      take(event_id, redis.call('HINCRBY', EV, '#' .. event_id, 1), payload)
    else
      redis.call('ZREM', EVC, event_id)
    end
  end
end
while claimed < limit do
  local event_id = redis.call('LPOP', EVQ)
  if not event_id then break end
  local payload = redis.call('HGET', EV, event_id)
  if payload then take(event_id, 0, payload) end
end
return reply
