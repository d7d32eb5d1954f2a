-- Shared helpers, prepended to every router script.
-- An agent is in the available set while online and below capacity, scored so that the lowest
-- load ratio comes first and, among equals, the one idle longest (oldest last assignment).
-- Its routing card (what a routing decision reads) is rewritten at the same time, so a round
-- reads every candidate with one command. An agent entering the set (got room) is published
-- on ``room`` (a pub/sub channel; nil: not published): a router that found nobody with room
-- waits for it instead of sweeping at each new conversation (router/worker.py).
local function refresh_available(agent_key, available_key, agent_id, cards_key, room)
  local a = redis.call('HMGET', agent_key, 'status', 'load', 'capacity', 'last_assigned_at',
    'teams', 'skills', 'languages', 'supervisor', 'open')
  local load, capacity = tonumber(a[2] or 0), tonumber(a[3] or 0)
  if a[1] == 'online' and capacity > 0 and load + 0.0001 < capacity then
    local ratio = math.floor(load / capacity * 1000)
    local idle = math.floor(tonumber(a[4] or 0) / 1000)
    if redis.call('ZADD', available_key, ratio * 1e10 + idle, agent_id) == 1 and room then
      redis.call('PUBLISH', room, agent_id)
    end
  else
    redis.call('ZREM', available_key, agent_id)
  end
  redis.call('HSET', cards_key, agent_id, cjson.encode({
    id = agent_id, status = a[1] or 'offline', load = load, capacity = capacity,
    last_assigned_at = tonumber(a[4] or 0), teams = a[5] or '[]', skills = a[6] or '[]',
    languages = a[7] or '[]', supervisor = a[8] or '0', open = tonumber(a[9] or 0)}))
end

-- Load is the sum of weights held (capacity units); 'open' counts conversations held.
local function add_load(agent_key, delta, count)
  local load = tonumber(redis.call('HINCRBYFLOAT', agent_key, 'load', delta))
  if load < 0.0001 then redis.call('HSET', agent_key, 'load', 0) end
  if count then
    local open = redis.call('HINCRBY', agent_key, 'open', count)
    if open < 0 then redis.call('HSET', agent_key, 'open', 0) end
  end
end

-- Where a conversation waits in the queue: a fixed position when one was given (the peers'
-- disciplines in the simulator), else the routing deadline of its running response clock
-- (set by the inbox), else now (nobody is waiting for an answer, e.g. a transfer).
local function queue_score(conv_key, now)
  local c = redis.call('HMGET', conv_key, 'queue_score', 'waiting_since', 'queue_due',
    'first_response_due')
  if c[1] and c[1] ~= '' then return c[1] end
  if c[2] then return c[3] or c[4] or now end
  return now
end
