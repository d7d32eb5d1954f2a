-- Open sockets counted across processes, each one a lease that its process renews: a socket of
-- a process that died without closing it stops counting when its lease runs out.
-- KEYS[1] the sorted set of one subject's open sockets (a client address or a visitor
-- session): member = socket id, score = lease expiry in ms.
-- ARGV: now ms, lease ms, limit, socket id.
-- Returns 1 when the socket is counted (or already was), 0 when the subject is at its limit.
local now, lease, limit, id = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], id) and redis.call('ZCARD', KEYS[1]) >= limit then
  return 0
end
redis.call('ZADD', KEYS[1], now + lease, id)
redis.call('PEXPIRE', KEYS[1], lease)
return 1
