-- sweep.lua: marks sessions past their deadline as expired, then purges old tombstones, in one
-- shard.
-- KEYS[1..7] the shard's indexes (see lib.lua).
-- ARGV[1..4] context (see lib.lua); ARGV[5] max sessions to expire; ARGV[6] purgeBeforeMs
-- (epoch ms); ARGV[7] max tombstones to purge.
-- Returns {expired, purged, more}: more is 1 when a limit stopped this call with work left.
-- Side effects: each expired session gets status expired, endReason `absolute` when its deadline
-- was the absolute one else `idle` (expiryReason in expiry.ts), endedAtMs = expiresAtMs, and one
-- `expired` event. The claim is the status check inside this script, so of concurrent sweepers
-- exactly one expires a given session. Purging deletes ended hashes with endedAtMs <=
-- purgeBeforeMs. Index entries whose hash Redis has already freed are dropped.
local expire_limit, purge_before, purge_limit = tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
local expired, purged, more = 0, 0, 0

if expire_limit > 0 then
  local due = redis.call('ZRANGEBYSCORE', EXP, '-inf', ctx.now_s, 'LIMIT', 0, expire_limit + 1)
  for j, id in ipairs(due) do
    if j > expire_limit then
      more = 1
      break
    end
    local s = load(session_key(id))
    if not s or s.ended then
      redis.call('ZREM', EXP, id)
      redis.call('ZREM', LRU, id)
    elseif s.e <= ctx.now then
      local reason = s.e >= s.a and 'absolute' or 'idle'
      end_session(id, 'expired', reason, fmt(s.e), 'expired')
      expired = expired + 1
    end
  end
end

if purge_limit > 0 then
  local old = redis.call('ZRANGEBYSCORE', ENDED, '-inf', purge_before, 'LIMIT', 0, purge_limit + 1)
  for j, id in ipairs(old) do
    if j > purge_limit then
      more = 1
      break
    end
    purged = purged + redis.call('DEL', session_key(id))
    redis.call('ZREM', ENDED, id)
  end
end

return { expired, purged, more }
