-- A kf callback ("something new for kf account X"), in one step: keep its sync_msg token, list
-- the account for the retry loop and mark it pending, so that a pending account is always one
-- the retry loop looks at. The mark is a counter: a pull removes it only if it did not change
-- meanwhile (kf_pending_done.lua), so a callback during a pull brings one more pull.
-- KEYS: 1 token, 2 accounts, 3 pending. ARGV: 1 open_kfid, 2 token ('' for none), 3 token TTL s.
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
redis.call('SADD', KEYS[2], ARGV[1])
return redis.call('INCR', KEYS[3])
