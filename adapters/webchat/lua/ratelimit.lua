-- Sliding one-window limits over several subjects at once (session and IP): an event is
-- allowed only if every subject had fewer than its limit in the last window; then it counts
-- for all of them. A refused event does not count, so a client is let in again as soon as its
-- oldest event leaves the window.
-- KEYS: one sorted set per subject. ARGV: now ms, window ms, member, limit per key...
-- Returns 0 when allowed, else the milliseconds until the next event would be allowed.
local now, window, member = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local wait = 0
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= tonumber(ARGV[3 + i]) then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    local free_at = tonumber(oldest[2]) + window - now
    if free_at > wait then wait = free_at end
  end
end
if wait > 0 then return wait end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, window)
end
return 0
