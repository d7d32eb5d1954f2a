-- A right password: the attempt counted in advance was no failure.
-- KEYS: 1 the (account, address) failures (forgotten), 2 the address's counter (one less).
redis.call('DEL', KEYS[1])
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
return 1
