-- Deletes KEYS[1] only while it holds ARGV[1] (erase: a thread key still naming the erased
-- contact's conversation, not one a new message has opened since).
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
