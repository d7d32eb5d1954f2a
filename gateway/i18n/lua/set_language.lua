-- The console language of a user, only while the user exists (a deleted user's hash is not
-- brought back). KEYS[1] user:<id>; ARGV[1] a language tag, or "" for the browser's.
if redis.call('HEXISTS', KEYS[1], 'id') == 0 then
  return 0
end
if ARGV[1] == '' then
  redis.call('HDEL', KEYS[1], 'ui_language')
else
  redis.call('HSET', KEYS[1], 'ui_language', ARGV[1])
end
return 1
