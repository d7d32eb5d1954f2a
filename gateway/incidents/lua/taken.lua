-- A senior accepted the incident's item: the incident is taken. Taking it is the response the
-- media-risk rule asks for within 30 minutes, so the item's first-response clock stops here
-- (as an agent's first reply stops it in append.lua).
-- KEYS: 1 incident hash, 2 the item's conversation hash. ARGV: 1 agent id, 2 now ms.
if redis.call('EXISTS', KEYS[1]) == 0 then return 'not-found' end
redis.call('HSETNX', KEYS[2], 'first_response_at', ARGV[2])
redis.call('HDEL', KEYS[2], 'waiting_since')
if redis.call('HGET', KEYS[1], 'taken_by') then return 'already' end
redis.call('HSET', KEYS[1], 'taken_by', ARGV[1], 'taken_at', ARGV[2], 'updated_at', ARGV[2])
return 'ok'
