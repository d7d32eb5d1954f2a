-- The end of a pause (pending / snoozed): every SLA deadline moves later by the pause's length,
-- the queue position too unless fixed, and the SLA watch looks at it again at once.
-- KEYS: conversation, queue, SLA watch. ARGV: conversation id, now ms.
local paused = redis.call('HGET', KEYS[1], 'paused_at')
if not paused then return 0 end
local shift = tonumber(ARGV[2]) - tonumber(paused)
if shift < 0 then shift = 0 end
for _, field in ipairs({'first_response_due', 'next_response_due', 'resolution_due',
    'queue_due'}) do
  local due = redis.call('HGET', KEYS[1], field)
  if due then redis.call('HSET', KEYS[1], field, tonumber(due) + shift) end
end
redis.call('HDEL', KEYS[1], 'paused_at')
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  redis.call('ZADD', KEYS[2], queue_score(KEYS[1], ARGV[2]), ARGV[1])
end
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return 1
