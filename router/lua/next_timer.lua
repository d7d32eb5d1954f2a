-- When a sweep next has timed work (read only): the earliest after now of an offer's expiry, a
-- snoozed conversation's wake-up, an SLA check and an agent's heartbeat going stale. A router
-- that found nobody with room sleeps until then (or an agent gets room).
-- KEYS: offers, presence, snoozed, SLA watch. ARGV: now ms, heartbeat ttl ms.
-- Returns the time in ms, or -1 when nothing is timed.
local now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
local best = -1
local function earliest(key, after, shift)
  local e = redis.call('ZRANGEBYSCORE', key, '(' .. after, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if e[2] then
    local at = tonumber(e[2]) + shift
    if best < 0 or at < best then best = at end
  end
end
earliest(KEYS[1], now, 0)
earliest(KEYS[2], now - ttl, ttl)
earliest(KEYS[3], now, 0)
earliest(KEYS[4], now, 0)
return math.floor(best)
