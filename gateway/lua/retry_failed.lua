-- An agent's retry of a failed reply: queue it again and put it back in the outbox in one step,
-- so a crash between the two can never leave it "queued" with nothing to send it.
-- KEYS: 1 delivery states, 2 outbox stream. ARGV: 1 conversation id, 2 seq.
local raw = redis.call('HGET', KEYS[1], ARGV[2])
if not raw or cjson.decode(raw)['state'] ~= 'failed' then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], cjson.encode({state = 'queued', attempts = 0}))
redis.call('XADD', KEYS[2], '*', 'conversation_id', ARGV[1], 'seq', ARGV[2])
return 1
