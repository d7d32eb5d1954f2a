-- Undoes one merge in one step: the source comes back with its identities (their keys name
-- it again) and every conversation in the target's set that belongs to one of them, those
-- that arrived after the merge included (a conversation belongs to the identity its
-- channel_id and contact_external_id name); the target's fields the merge set are restored
-- when nobody changed them since; the claims the target got from the source leave it.
--
-- KEYS: 1 the merge, 2 source, 3 target, 4 source's conversations, 5 target's
--       conversations, 6 source's claims, 7 target's claims, 8 source's timeline,
--       9 target's timeline, 10 contacts changed, 11 shared claims
-- ARGV: 1 merge id, 2 now ms, 3 actor id, 4 actor name, 5 identity key template,
--       6 conversation key template, 7 claim key template
-- Returns {'ok', conversations moved back, identities} or {error code, detail}.
local now = tonumber(ARGV[2])
local m = redis.call('HMGET', KEYS[1], 'source', 'target', 'undone_at', 'changes',
  'claims_added')
local S, T = m[1], m[2]
if not S then return {'no-merge', ''} end
if m[3] then return {'already', m[3]} end
local s = redis.call('HMGET', KEYS[2], 'merged_into', 'identities', 'erased_at')
local t = redis.call('HMGET', KEYS[3], 'merged_into', 'identities', 'erased_at')
if s[3] or t[3] then return {'erased', ''} end
if t[1] then return {'target-merged', t[1]} end
if s[1] ~= T then return {'conflict', s[1] or ''} end

local mine = {}
local source_identities = lines(s[2])
for _, identity in ipairs(source_identities) do
  mine[identity] = true
  local ident_key = identity_key(ARGV[5], identity)
  if ident_key and redis.call('GET', ident_key) == T then redis.call('SET', ident_key, S) end
end
local kept = {}
for _, identity in ipairs(lines(t[2])) do
  if not mine[identity] then kept[#kept + 1] = identity end
end

local moved = 0
local convs = redis.call('ZRANGE', KEYS[5], 0, -1, 'WITHSCORES')
for i = 1, #convs, 2 do
  local conv_id, score = convs[i], convs[i + 1]
  local conv_key = key(ARGV[6], conv_id)
  local who = redis.call('HMGET', conv_key, 'channel_id', 'contact_external_id')
  if who[1] and who[2] and mine[who[1] .. ':' .. who[2]] then
    redis.call('ZADD', KEYS[4], score, conv_id)
    redis.call('ZREM', KEYS[5], conv_id)
    redis.call('HSET', conv_key, 'contact_id', S)
    moved = moved + 1
  end
end

-- The target's fields the merge set, unless changed since.
local changes = cjson.decode(m[4] or '{}')
for field, change in pairs(changes) do
  if redis.call('HGET', KEYS[3], field) == change.after then
    if change.before then
      redis.call('HSET', KEYS[3], field, change.before)
    else
      redis.call('HDEL', KEYS[3], field)
    end
  end
end
redis.call('HSET', KEYS[3], 'identities', table.concat(kept, '\n'))

for _, claim in ipairs(redis.call('SMEMBERS', KEYS[6])) do
  redis.call('SADD', key(ARGV[7], claim), S)
end
for _, claim in ipairs(cjson.decode(m[5] or '[]')) do
  redis.call('SREM', key(ARGV[7], claim), T)
  redis.call('SREM', KEYS[7], claim)
end
for _, claim in ipairs(redis.call('SMEMBERS', KEYS[6])) do
  if redis.call('SCARD', key(ARGV[7], claim)) >= 2 then
    redis.call('ZADD', KEYS[11], 'NX', now, claim)
  end
end

redis.call('HDEL', KEYS[2], 'merged_into', 'merged_at', 'merge_id')
redis.call('HSET', KEYS[1], 'undone_at', now, 'undone_by', ARGV[4], 'moved_back', moved)
local entry = {type = 'undo', merge_id = ARGV[1], at = now, actor = ARGV[4], source = S,
  target = T, conversations = moved}
timeline(KEYS[8], entry)
timeline(KEYS[9], entry)
redis.call('ZADD', KEYS[10], now, S, now, T)
return {'ok', tostring(moved), tostring(#source_identities)}
