-- A complete pull (its pages in the inbox, the cursor saved) consumes the pending mark it began
-- with, unless a callback changed the mark meanwhile: then it stays, for another pull.
-- KEYS: 1 pending. ARGV: 1 the mark read before the pull.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
