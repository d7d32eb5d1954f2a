-- What one router sweep has to do, in one command (read only).
-- KEYS: offers, presence, snoozed, SLA watch, queue.
-- ARGV: now ms, stale-before ms, limit, queue head count.
local now, limit = ARGV[1], tonumber(ARGV[3])
return {
  redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit),
  redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2], 'LIMIT', 0, limit),
  redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, limit),
  redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, limit),
  redis.call('ZRANGE', KEYS[5], 0, tonumber(ARGV[4]) - 1, 'WITHSCORES'),
}
