-- What one router sweep has to do, in one command (read only).
-- KEYS: offers, presence, snoozed, SLA watch, queue.
-- ARGV: now ms, stale-before ms, limit, queue head count.
-- The last list is, when every conversation of the head is already due by its queue position
-- (an overload), the first ones still due later (those that can yet be answered in time).
local now, limit, count = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4])
local head = redis.call('ZRANGE', KEYS[5], 0, count - 1, 'WITHSCORES')
local on_time = {}
if #head >= 2 * count and tonumber(head[#head]) < tonumber(now) then
  on_time = redis.call('ZRANGEBYSCORE', KEYS[5], '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0,
    count)
end
return {
  redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit),
  redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2], 'LIMIT', 0, limit),
  redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, limit),
  redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, limit),
  head,
  on_time,
}
