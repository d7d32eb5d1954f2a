-- Resolve a conversation: out of queue, offers and SLA watch, capacity of its agent returned.
-- KEYS: conversation, queue, offers, agent (assignee or offeree; any key if none),
-- agent's conversations, available, snoozed, SLA watch, agent cards.
-- ARGV: conversation id, expected agent id or '', now ms, room channel.
local c = redis.call('HMGET', KEYS[1], 'status', 'assignee', 'offered_to', 'weight')
if not c[1] then return 'not-found' end
if c[1] == 'resolved' then return 'already' end
local agent = c[2] or c[3] or ''
if agent ~= ARGV[2] then return 'retry' end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[7], ARGV[1])
redis.call('ZREM', KEYS[8], ARGV[1])
if agent ~= '' then
  add_load(KEYS[4], -tonumber(c[4] or 1), -1)
  redis.call('SREM', KEYS[5], ARGV[1])
  refresh_available(KEYS[4], KEYS[6], agent, KEYS[9], ARGV[4])
  redis.call('HSET', KEYS[1], 'last_agent', agent)
end
redis.call('HDEL', KEYS[1], 'offered_to', 'offer_expires_at', 'waiting_since', 'excluded',
  'declined_at', 'snoozed_until', 'paused_at')
redis.call('HSET', KEYS[1], 'status', 'resolved', 'resolved_at', ARGV[3], 'updated_at', ARGV[3])
return 'ok'
