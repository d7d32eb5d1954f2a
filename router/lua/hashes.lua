-- The same fields of several hashes, in one command (read only).
-- KEYS: the hashes. ARGV: the field names.
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = redis.call('HMGET', key, unpack(ARGV))
end
return out
