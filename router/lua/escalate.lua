-- Record escalation steps of an SLA breach, once: the caller planned them from a snapshot
-- and we apply them only if the episode and the steps done are still what it saw.
-- KEYS: conversation, SLA watch, queue.
-- ARGV: conversation id, breach id, steps done before, steps done after, new class or '',
--       its rank, its rule, widen (1/0), next check ms or '', queue shift ms (raised to a
--       class served first: its queue position and routing deadline move that much).
local c = redis.call('HMGET', KEYS[1], 'status', 'sla_breach', 'sla_level')
if not c[1] or c[1] == 'resolved' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 'gone'
end
local done = 0
if c[2] == ARGV[2] then done = tonumber(c[3] or 0) end
if done ~= tonumber(ARGV[3]) then return 'stale' end
redis.call('HSET', KEYS[1], 'sla_breach', ARGV[2], 'sla_level', ARGV[4])
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[1], 'priority', ARGV[5], 'priority_rank', ARGV[6],
    'priority_rule', ARGV[7])
  local shift = tonumber(ARGV[10] or 0)
  if shift ~= 0 then
    local queue_due = redis.call('HGET', KEYS[1], 'queue_due')
    if queue_due then redis.call('HSET', KEYS[1], 'queue_due', tonumber(queue_due) + shift) end
    local score = redis.call('ZSCORE', KEYS[3], ARGV[1])
    if score and not redis.call('HGET', KEYS[1], 'queue_score') then
      redis.call('ZADD', KEYS[3], tonumber(score) + shift, ARGV[1])
    end
  end
end
if ARGV[8] == '1' then redis.call('HSET', KEYS[1], 'widened', 1) end
if ARGV[9] ~= '' then
  redis.call('ZADD', KEYS[2], ARGV[9], ARGV[1])
else
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return 'ok'
