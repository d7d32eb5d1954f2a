-- Deletes each KEYS[i] only while it holds ARGV[i] (erase: a thread key still naming the erased
-- contact's conversation, not one a new message has opened since). Returns how many went.
local deleted = 0
for i, name in ipairs(KEYS) do
  if redis.call('GET', name) == ARGV[i] then deleted = deleted + redis.call('DEL', name) end
end
return deleted
