-- A conversation whose customer waits for a reply goes back to the queue when the agent who
-- holds it is gone (status offline, or a console that sent no heartbeat since ARGV[4]): the
-- customer would otherwise wait for someone who is not there. A conversation nobody waits on
-- stays with its agent until the customer writes. The agent becomes its sticky agent (the
-- router prefers them if they are back in time); it keeps its place by its routing deadline.
-- KEYS: conversation, agent, agent's conversations, queue, available, agent cards, presence.
-- ARGV: conversation id, agent id, now ms, oldest live heartbeat ms, room channel, '1' when
--       the caller is taking the agent offline (released first, so that a crash between the
--       two steps leaves the agent online, never an offline agent holding waiting customers).
-- Returns 'released', 'present' (the agent is here: online or away, heartbeat fresh),
-- 'not-waiting', or 'not-held' (resolved, gone, or held by someone else).
local c = redis.call('HMGET', KEYS[1], 'status', 'assignee', 'waiting_since', 'weight')
if not c[1] or c[1] == 'resolved' or c[2] ~= ARGV[2] then return 'not-held' end
local status = redis.call('HGET', KEYS[2], 'status')
local seen = redis.call('ZSCORE', KEYS[7], ARGV[2])
if ARGV[6] ~= '1' and (status == 'online' or status == 'away') and seen
    and tonumber(seen) >= tonumber(ARGV[4]) then
  return 'present'
end
if not c[3] then return 'not-waiting' end
add_load(KEYS[2], -tonumber(c[4] or 1), -1)
redis.call('SREM', KEYS[3], ARGV[1])
refresh_available(KEYS[2], KEYS[5], ARGV[2], KEYS[6], ARGV[5])
redis.call('HDEL', KEYS[1], 'assignee')
redis.call('HSET', KEYS[1], 'sticky_agent', ARGV[2], 'updated_at', ARGV[3])
redis.call('ZADD', KEYS[4], queue_score(KEYS[1], ARGV[3]), ARGV[1])
return 'released'
