-- One login attempt, counted before its password is checked, so parallel attempts cannot all
-- pass the limit: refused if any counter is at the limit, else every counter takes one more.
-- KEYS: failure counters (the email's, the address's). ARGV: 1 max failures, 2 window ms.
-- Returns {1, 0} (go on and check the password) or {0, ms until the lock ends}.
local max = tonumber(ARGV[1])
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= max then
    return {0, math.max(redis.call('PTTL', key), 1)}
  end
end
for _, key in ipairs(KEYS) do
  redis.call('INCR', key)
  redis.call('PEXPIRE', key, ARGV[2])
end
return {1, 0}
