-- The offered agent accepts. KEYS: conversation, offers, agent, agent's conversations,
-- available, contact, agent cards. ARGV: conversation id, agent id, now ms, room channel.
if redis.call('HGET', KEYS[1], 'offered_to') ~= ARGV[2] then return 'not-offered' end
redis.call('HDEL', KEYS[1], 'offered_to', 'offer_expires_at', 'excluded',
  'declined_at')
redis.call('HSET', KEYS[1], 'assignee', ARGV[2], 'assigned_at', ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('HSET', KEYS[3], 'missed', 0, 'last_assigned_at', ARGV[3])
refresh_available(KEYS[3], KEYS[5], ARGV[2], KEYS[7], ARGV[4])
-- The customer's next conversation prefers this agent (sticky routing).
if redis.call('EXISTS', KEYS[6]) == 1 then redis.call('HSET', KEYS[6], 'last_agent', ARGV[2]) end
return 'ok'
