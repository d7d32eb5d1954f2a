-- Records the verified claims of an inbound message for its contact (the one a merge made of
-- it, should the contact have been merged since the message was filed).
-- KEYS: 1 shared claims. ARGV: 1 contact id, 2 now ms, 3 contact key template, 4 contact's
-- claims key template, 5 claim key template, 6.. the claims.
local id = ARGV[1]
for _ = 1, 16 do
  local next_id = redis.call('HGET', key(ARGV[3], id), 'merged_into')
  if not next_id then break end
  id = next_id
end
if redis.call('HEXISTS', key(ARGV[3], id), 'erased_at') == 1 then return 0 end
local added = 0
for i = 6, #ARGV do
  local claim_key = key(ARGV[5], ARGV[i])
  redis.call('SADD', key(ARGV[4], id), ARGV[i])
  added = added + redis.call('SADD', claim_key, id)
  if redis.call('SCARD', claim_key) >= 2 then
    redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[i])
  end
end
return added
