-- A reply about to be sent: its own delivery state, and whether it must wait behind an earlier
-- one. Keeps a conversation's replies in order: a reply not settled yet is held behind the
-- earliest earlier one that is not settled yet ('queued': waiting for its retry, or being sent
-- by another process).
-- KEYS: 1 delivery states, 2 outbox retry zset, 3 the conversation, 4 its messages, 5 the outbox
-- stream.
-- ARGV: 1 conversation id, 2 seq, 3 now ms, 4 hold ms (when the earlier one has no retry time),
-- 5 consumer group, 6 this sender (consumer), 7 the entry id.
-- First, the entry must still be this sender's: one that stalled past claim_idle_ms may have
-- lost it to another, which sends it (held is 2: leave it alone).
-- Returns {own state JSON or '', held, the message's body or '', the conversation's hash as a
-- flat list} (what the send needs, in the same round trip). A reply already 'sent' or 'failed'
-- (a duplicate entry) is never held. Held: the reply goes in the retry zset just after the
-- earlier one's next attempt, one ms per place behind it (so held replies keep their order);
-- held is 1.
local pending = redis.call('XPENDING', KEYS[5], ARGV[5], ARGV[7], ARGV[7], 1)
if not pending[1] or pending[1][2] ~= ARGV[6] then return {'', 2, '', {}} end
local own = redis.call('HGET', KEYS[1], ARGV[2]) or ''
local function answer(held)
  local body = redis.call('HGET', KEYS[4], ARGV[2]) or ''
  return {own, held, body, redis.call('HGETALL', KEYS[3])}
end
if own ~= '' then
  local state = cjson.decode(own)['state']
  if state == 'sent' or state == 'failed' then return {own, 0, '', {}} end
end
local seq = tonumber(ARGV[2])
local blocker = nil
local states = redis.call('HGETALL', KEYS[1])
for i = 1, #states, 2 do
  local other = tonumber(states[i])
  if other < seq and (blocker == nil or other < blocker)
      and cjson.decode(states[i + 1])['state'] == 'queued' then
    blocker = other
  end
end
if blocker == nil then return answer(0) end
local due = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1] .. ':' .. blocker) or 0)
due = math.max(tonumber(ARGV[3]) + tonumber(ARGV[4]), due) + (seq - blocker)
redis.call('ZADD', KEYS[2], string.format('%d', due), ARGV[1] .. ':' .. seq)
return {own, 1, '', {}}
