-- A failed attempt to be retried: its delivery state 'queued' with the reason, its retry time in
-- outbox:retry, and its entry acknowledged and deleted, in one step (a crash in between would
-- leave both the pending entry, claimed later, and the retry to send the reply).
-- KEYS: 1 delivery states, 2 outbox retry zset, 3 outbox stream.
-- ARGV: 1 seq, 2 delivery state JSON, 3 retry member, 4 due ms, 5 consumer group, 6 entry id.
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
redis.call('XACK', KEYS[3], ARGV[5], ARGV[6])
redis.call('XDEL', KEYS[3], ARGV[6])
return 1
