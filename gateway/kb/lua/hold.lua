-- Self-service answered a conversation: take it off the queue and pause its SLA clocks while
-- the customer reads the answer, only if nobody holds it (an agent offered or assigned it in
-- the meantime keeps it). It runs after the answer is queued to the outbox, so a conversation
-- is never held without one. The customer's next message reopens it (ingest.lua: status open,
-- deadlines moved by the pause, queued again); waiting_since is dropped so an agent's first
-- response is measured from that message, not from the question the bot answered.
-- Nor if the customer wrote again while the answer was sent (last_inbound_at moved): that
-- message stays queued for its own handling.
-- Run twice for the same answer (a client resending a script whose reply timed out), it finds
-- its own hold and answers 1 again without counting the answer twice.
-- KEYS: 1 conv, 2 queue, 3 sla watch. ARGV: 1 conversation id, 2 now (the answer's time),
-- 3 article id, 4 round (the conversation's reopen count), 5 last_inbound_at read before the
-- answer ('' if none).
local state = redis.call('HMGET', KEYS[1], 'status', 'assignee', 'offered_to', 'bot_answered_at',
  'last_inbound_at')
if state[1] == 'pending' and state[4] == ARGV[2] then return 1 end
if state[1] ~= 'open' or state[2] or state[3] then return 0 end
if (state[5] or '') ~= ARGV[5] then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HSETNX', KEYS[1], 'paused_at', ARGV[2])
redis.call('HDEL', KEYS[1], 'waiting_since')
redis.call('HSET', KEYS[1], 'status', 'pending', 'bot_state', 'answered', 'bot_article', ARGV[3],
  'bot_round', ARGV[4], 'bot_answered_at', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'bot_answers', 1)
return 1
