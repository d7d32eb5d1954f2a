-- Set an agent's status (heartbeat when unchanged). KEYS: agent, presence, available,
-- agent cards.
-- ARGV: agent id, status (online / away / offline), now ms, room channel.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[2])
if ARGV[2] == 'offline' then
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
end
if ARGV[2] == 'online' then redis.call('HSET', KEYS[1], 'missed', 0) end
refresh_available(KEYS[1], KEYS[3], ARGV[1], KEYS[4], ARGV[4])
return 1
