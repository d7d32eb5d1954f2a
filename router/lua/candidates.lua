-- One window of available agents, least loaded first, with their routing cards (read only).
-- KEYS: available, agent cards. ARGV: offset, count. Returns {ids, cards}.
local ids = redis.call('ZRANGE', KEYS[1], ARGV[1], tonumber(ARGV[1]) + tonumber(ARGV[2]) - 1)
if #ids == 0 then return {{}, {}} end
return {ids, redis.call('HMGET', KEYS[2], unpack(ids))}
