-- A mention inside a spike joins its channel's open incident, or opens a new one.
-- KEYS: 1 the channel's current-incident pointer, 2 that incident's hash (any key if none),
--       3 its mentions, 4 the new incident's hash, 5 its mentions, 6 the incidents index,
--       7 the mention's conversation hash.
-- ARGV: 1 current incident id Python read ('' if none), 2 new incident id, 3 now ms,
--       4 join window ms, 5 conversation id, 6 channel id, 7 channel type.
-- Returns {outcome, incident id}: joined / created / already (the conversation is in one);
-- {'retry'} when the pointer changed since Python read it.
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then return {'retry'} end
local now = tonumber(ARGV[3])
local had = redis.call('HGET', KEYS[7], 'incident_id')
if had then return {'already', had} end
if current ~= '' then
  local c = redis.call('HMGET', KEYS[2], 'status', 'last_mention_at')
  if c[1] == 'open' and now - tonumber(c[2] or 0) <= tonumber(ARGV[4]) then
    if redis.call('ZADD', KEYS[3], 'NX', now, ARGV[5]) == 1 then
      redis.call('HINCRBY', KEYS[2], 'mentions', 1)
    end
    redis.call('HSET', KEYS[2], 'last_mention_at', now, 'updated_at', now)
    redis.call('HSET', KEYS[7], 'incident_id', current)
    return {'joined', current}
  end
end
local id = ARGV[2]
redis.call('HSET', KEYS[4], 'id', id, 'channel_id', ARGV[6], 'channel_type', ARGV[7],
  'status', 'open', 'created_at', now, 'updated_at', now, 'first_mention_at', now,
  'last_mention_at', now, 'mentions', 1)
redis.call('ZADD', KEYS[5], now, ARGV[5])
redis.call('ZADD', KEYS[6], now, id)
redis.call('SET', KEYS[1], id)
redis.call('HSET', KEYS[7], 'incident_id', id)
return {'created', id}
