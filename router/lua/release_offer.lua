-- An offer declined or timed out: back to the queue, capacity returned, the agent excluded from
-- this conversation's next offers while anyone else eligible has room (the router asks the
-- excluded agents again rather than let it wait); too many missed offers in a row set the
-- agent away.
-- KEYS: conversation, offers, agent, queue, available, presence, agent cards.
-- ARGV: conversation id, agent id, reason (decline / timeout), max missed, now ms, room channel.
if redis.call('HGET', KEYS[1], 'offered_to') ~= ARGV[2] then return 'not-offered' end
local weight = tonumber(redis.call('HGET', KEYS[1], 'weight') or 1)
redis.call('HDEL', KEYS[1], 'offered_to', 'offer_expires_at')
redis.call('ZREM', KEYS[2], ARGV[1])
local excluded = redis.call('HGET', KEYS[1], 'excluded')
if not excluded or excluded == '' then
  redis.call('HSET', KEYS[1], 'excluded', ARGV[2])
elseif not string.find(',' .. excluded .. ',', ',' .. ARGV[2] .. ',', 1, true) then
  redis.call('HSET', KEYS[1], 'excluded', excluded .. ',' .. ARGV[2])
end
redis.call('ZADD', KEYS[4], queue_score(KEYS[1], ARGV[5]), ARGV[1])
add_load(KEYS[3], -weight, -1)
local outcome = 'ok'
if ARGV[3] == 'decline' then redis.call('HSET', KEYS[1], 'declined_at', ARGV[5]) end
if ARGV[3] == 'timeout' then
  local missed = redis.call('HINCRBY', KEYS[3], 'missed', 1)
  if missed >= tonumber(ARGV[4]) then
    redis.call('HSET', KEYS[3], 'status', 'away')
    outcome = 'away'
  end
end
refresh_available(KEYS[3], KEYS[5], ARGV[2], KEYS[7], ARGV[6])
return outcome
