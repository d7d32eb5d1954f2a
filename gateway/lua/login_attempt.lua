-- One login attempt, counted as a failure before its password is checked (login_success.lua
-- takes it back), so parallel attempts cannot all slip under a limit.
-- Per (account, address): from the max-th failure on, each failure locks the pair for base ms,
-- doubled for each further one, at most max_lock ms; remembered 2 x max_lock ms after the last.
-- Per address (any account): at most addr_max failures per window, a looser cap.
-- KEYS: 1 the pair's hash {fails, until}, 2 the address's counter.
-- ARGV: 1 now ms, 2 max, 3 base ms, 4 max_lock ms, 5 addr_max, 6 window ms.
-- Returns {1, 0} (go on and check the password) or {0, ms until it may try again}.
local now = tonumber(ARGV[1])
local locked_until = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if locked_until > now then return {0, locked_until - now} end
if tonumber(redis.call('GET', KEYS[2]) or '0') >= tonumber(ARGV[5]) then
  return {0, math.max(redis.call('PTTL', KEYS[2]), 1)}
end
local fails = redis.call('HINCRBY', KEYS[1], 'fails', 1)
local max, max_lock = tonumber(ARGV[2]), tonumber(ARGV[4])
if fails >= max then
  local lock = math.min(tonumber(ARGV[3]) * 2 ^ math.min(fails - max, 40), max_lock)
  redis.call('HSET', KEYS[1], 'until', string.format('%d', now + lock))
end
redis.call('PEXPIRE', KEYS[1], 2 * max_lock)
if redis.call('INCR', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[6]) end
return {1, 0}
