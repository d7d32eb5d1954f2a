-- Append an agent reply, note or system line to a conversation; a reply is queued in the outbox
-- in the same step, so it is never lost between the log and the sender.
-- KEYS: 1 conversation, 2 messages, 3 outbox stream, 4 conversations index, 5 delivery states,
--       6 the client id's record (read and written only when ARGV[6] is 1)
-- ARGV: 1 conversation id, 2 message json, 3 now ms, 4 direction, 5 send (1/0),
--       6 the caller named a client id (1/0), 7 how long it is remembered (s),
--       8 refuse when the conversation is an incident's item (1/0: a reply, which goes through
--         the incident's statement instead), 9 only while it waits for an answer (1/0: an
--         incident's bulk reply, which an agent's reply or another run may have made needless)
-- Direction 'system' is an automatic outbound message (greeting, survey, follow-up): sent like a
-- reply, but it answers nobody, so the response clocks keep running.
-- Returns {seq, replayed, assignee, offered_to, first_response_at, waiting_since, created_at,
-- channel_type, priority}: replayed is 1 when the client id was used already (nothing is added:
-- seq is the message it got); who holds the conversation after the step (who hears of the
-- message); the first-response fields as they were before it (whether this reply is the first,
-- and the wait it ended). {-1, 0} when there is no such conversation, {-2, 0} when refused,
-- {-3, 0, 'resolved' or 'answered'} when it does not wait (ARGV[9]).
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, 0} end
if ARGV[6] == '1' then
  local earlier = redis.call('GET', KEYS[6])
  if earlier then
    local who = redis.call('HMGET', KEYS[1], 'assignee', 'offered_to')
    return {tonumber(earlier), 1, who[1], who[2]}
  end
end
local before = redis.call('HMGET', KEYS[1], 'first_response_at', 'waiting_since', 'created_at',
                          'channel_type', 'priority', 'incident_item', 'status')
if ARGV[8] == '1' and before[6] == '1' then return {-2, 0} end
if ARGV[9] == '1' then
  if before[7] == 'resolved' then return {-3, 0, 'resolved'} end
  if not before[2] then return {-3, 0, 'answered'} end
end
local now = ARGV[3]
local seq = redis.call('HINCRBY', KEYS[1], 'last_seq', 1)
if ARGV[6] == '1' then redis.call('SET', KEYS[6], seq, 'EX', ARGV[7]) end
redis.call('HSET', KEYS[2], seq, ARGV[2])
redis.call('HSET', KEYS[1], 'updated_at', now)
redis.call('ZADD', KEYS[4], now, ARGV[1])
if ARGV[4] == 'out' then
  redis.call('HSETNX', KEYS[1], 'first_response_at', now)
  redis.call('HDEL', KEYS[1], 'waiting_since')
end
if ARGV[4] == 'out' or ARGV[4] == 'system' then
  redis.call('HSET', KEYS[1], 'last_outbound_at', now)
end
if ARGV[5] == '1' then
  redis.call('HSET', KEYS[5], seq, cjson.encode({state = 'queued', attempts = 0}))
  redis.call('XADD', KEYS[3], '*', 'conversation_id', ARGV[1], 'seq', seq)
end
local who = redis.call('HMGET', KEYS[1], 'assignee', 'offered_to')
return {seq, 0, who[1], who[2], before[1], before[2], before[3], before[4], before[5]}
