-- Offer a waiting conversation to an agent, taking capacity. KEYS: queue, offers, available,
-- conversation, agent, agent cards. ARGV: conversation id, agent id, offer expiry ms, weight,
-- room channel.
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 'not-waiting' end
local a = redis.call('HMGET', KEYS[5], 'status', 'load', 'capacity')
if a[1] ~= 'online' then return 'agent-unavailable' end
if tonumber(a[2] or 0) + tonumber(ARGV[4]) > tonumber(a[3] or 0) + 0.0001 then
  return 'agent-full'
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[4], 'offered_to', ARGV[2], 'offer_expires_at', ARGV[3], 'weight', ARGV[4])
add_load(KEYS[5], ARGV[4], 1)
refresh_available(KEYS[5], KEYS[3], ARGV[2], KEYS[6], ARGV[5])
return 'ok'
