-- The incident's routable item (a conversation of class `incident`) is linked both ways.
-- KEYS: 1 incident hash, 2 the item's conversation hash. ARGV: 1 incident id, 2 conversation id.
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('EXISTS', KEYS[2]) == 0 then
  return 'not-found'
end
redis.call('HSET', KEYS[1], 'conversation_id', ARGV[2])
redis.call('HSET', KEYS[2], 'incident_id', ARGV[1], 'incident_item', 1)
return 'ok'
