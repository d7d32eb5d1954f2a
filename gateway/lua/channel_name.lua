-- Channel names are unique (trimmed, case-folded by the caller): claim a name for a channel,
-- giving up the one it had, in one step. KEYS: the name index (hash folded name -> channel id).
-- ARGV: channel id, folded name to claim ('' to claim none: a release), folded name it had ('').
-- Returns the id of the channel that holds the name already, or '' when the claim succeeded.
if ARGV[2] ~= '' then
  local holder = redis.call('HGET', KEYS[1], ARGV[2])
  if holder and holder ~= ARGV[1] then return holder end
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[1])
end
if ARGV[3] ~= '' and ARGV[3] ~= ARGV[2] and redis.call('HGET', KEYS[1], ARGV[3]) == ARGV[1] then
  redis.call('HDEL', KEYS[1], ARGV[3])
end
return ''
