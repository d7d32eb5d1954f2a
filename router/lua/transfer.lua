-- Transfer a conversation away from its agent: to another signed-in agent directly (an offline
-- one is refused: agent-offline), or back to the queue
-- for a team. KEYS: conversation, old agent, old agent's conversations, new agent, new agent's
-- conversations, queue, offers, available, agent cards, presence.
-- ARGV: conversation id, expected current agent or '', target agent or '', team or '', now ms,
--       weight (for a conversation that never had one), room channel, oldest live heartbeat ms.
local c = redis.call('HMGET', KEYS[1], 'status', 'assignee', 'offered_to', 'weight')
if not c[1] then return 'not-found' end
if c[1] == 'resolved' then return 'resolved' end
local current = c[2] or c[3] or ''
if current ~= ARGV[2] then return 'retry' end
local weight = tonumber(c[4] or ARGV[6])
if ARGV[3] ~= '' and redis.call('EXISTS', KEYS[4]) == 0 then return 'no-such-agent' end
-- Nobody signed in would see it: the conversation would sit with nobody (away is signed in).
if ARGV[3] ~= '' then
  local status = redis.call('HGET', KEYS[4], 'status')
  if status ~= 'online' and status ~= 'away' then return 'agent-offline' end
  -- A console that stopped sending heartbeats is gone, even before the router's next sweep
  -- (or with no router running) marks the agent offline.
  local seen = redis.call('ZSCORE', KEYS[10], ARGV[3])
  if not seen or tonumber(seen) < tonumber(ARGV[8]) then return 'agent-offline' end
end
if current ~= '' then
  add_load(KEYS[2], -weight, -1)
  redis.call('SREM', KEYS[3], ARGV[1])
  refresh_available(KEYS[2], KEYS[8], current, KEYS[9], ARGV[7])
end
redis.call('ZREM', KEYS[7], ARGV[1])
redis.call('HDEL', KEYS[1], 'offered_to', 'offer_expires_at', 'excluded',
  'declined_at')
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'team', ARGV[4]) end
if ARGV[3] ~= '' then
  redis.call('ZREM', KEYS[6], ARGV[1])
  redis.call('HSET', KEYS[1], 'assignee', ARGV[3], 'assigned_at', ARGV[5], 'weight', weight)
  add_load(KEYS[4], weight, 1)
  redis.call('SADD', KEYS[5], ARGV[1])
  refresh_available(KEYS[4], KEYS[8], ARGV[3], KEYS[9], ARGV[7])
else
  redis.call('HDEL', KEYS[1], 'assignee')
  redis.call('ZADD', KEYS[6], queue_score(KEYS[1], ARGV[5]), ARGV[1])
end
redis.call('HSET', KEYS[1], 'updated_at', ARGV[5])
return 'ok'
