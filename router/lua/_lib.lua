-- Shared helpers, prepended to every router script.
-- An agent is in the available set while online and below capacity, scored so that the lowest
-- load ratio comes first and, among equals, the one idle longest (oldest last assignment).
local function refresh_available(agent_key, available_key, agent_id)
  local a = redis.call('HMGET', agent_key, 'status', 'load', 'capacity', 'last_assigned_at')
  local load, capacity = tonumber(a[2] or 0), tonumber(a[3] or 0)
  if a[1] == 'online' and capacity > 0 and load + 0.0001 < capacity then
    local ratio = math.floor(load / capacity * 1000)
    local idle = math.floor(tonumber(a[4] or 0) / 1000)
    redis.call('ZADD', available_key, ratio * 1e10 + idle, agent_id)
  else
    redis.call('ZREM', available_key, agent_id)
  end
end

local function add_load(agent_key, delta)
  local load = tonumber(redis.call('HINCRBYFLOAT', agent_key, 'load', delta))
  if load < 0.0001 then redis.call('HSET', agent_key, 'load', 0) end
end
