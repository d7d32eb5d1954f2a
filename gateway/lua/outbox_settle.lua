-- A reply the platform accepted: its delivery state 'sent', its parts record set to expire, and its
-- outbox entry acknowledged and deleted, in one step (a crash leaves either all or nothing, and
-- an entry redelivered after a crash before it finds 'sent' and is skipped).
-- KEYS: 1 delivery states, 2 the reply's parts record, 3 outbox stream, 4 the conversation.
-- ARGV: 1 seq, 2 delivery state JSON, 3 consumer group, 4 entry id, 5 how long the parts
-- record stays (ms): a part reported undelivered later is then the only one sent again.
-- Returns who watches the conversation now and its channel (assignee, offered_to, channel_type,
-- channel_id): the delivery's event needs them, and this saves reading them again.
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('XACK', KEYS[3], ARGV[3], ARGV[4])
redis.call('XDEL', KEYS[3], ARGV[4])
return redis.call('HMGET', KEYS[4], 'assignee', 'offered_to', 'channel_type', 'channel_id')
