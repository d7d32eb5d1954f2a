-- Move outbox retries whose time has come back into the stream. KEYS: retry zset, outbox stream.
-- ARGV: now ms, max count.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, member in ipairs(due) do
  local conv, seq = string.match(member, '^(.*):(%d+)$')
  redis.call('XADD', KEYS[2], '*', 'conversation_id', conv, 'seq', seq)
  redis.call('ZREM', KEYS[1], member)
end
return #due
