-- Merges the source contact into the target in one step: every identity key of the source
-- names the target, the source's conversations join the target's (their scores, which the
-- repeat-complainer rule of ingest.lua reads, kept) and name it, the higher tier, the advisor,
-- the sticky agent (of the contact active last) and the fields the target lacks go to the
-- target, the verified claims follow, and the source stays as a tombstone (merged_into).
-- What changed is recorded in the merge hash for undo.lua. ingest.lua reads identity ->
-- contact inside its own script, so a message for either contact lands wholly before or
-- wholly after this.
--
-- KEYS: 1 source, 2 target, 3 source's conversations, 4 target's conversations, 5 source's
--       claims, 6 target's claims, 7 source's timeline, 8 target's timeline, 9 the merge,
--       10 contacts changed, 11 shared claims
-- ARGV: 1 source id, 2 target id, 3 merge id, 4 now ms, 5 actor id, 6 actor name,
--       7 tiers, highest first, one a line (lowercase), 8 identity key template ('\1' channel,
--       '\2' external id), 9 conversation key template, 10 claim key template
-- Returns {'ok', conversations moved, identities moved} or {error code, detail}.
local S, T, now = ARGV[1], ARGV[2], tonumber(ARGV[4])
if S == T then return {'same', ''} end
local NAMES = {'id', 'merged_into', 'erased_at', 'identities', 'tier', 'advisor', 'last_agent',
  'name', 'email', 'phone'}
local function read(contact_key)
  local values = redis.call('HMGET', contact_key, unpack(NAMES))
  local row = {}
  for i, name in ipairs(NAMES) do row[name] = values[i] end
  return row
end
local s, t = read(KEYS[1]), read(KEYS[2])
if not s.id then return {'no-source', ''} end
if not t.id then return {'no-target', ''} end
if s.merged_into then return {'source-merged', s.merged_into} end
if t.merged_into then return {'target-merged', t.merged_into} end
if s.erased_at or t.erased_at then return {'erased', ''} end

-- Identities: each key of the source now names the target.
local target_identities = lines(t.identities)
local known = {}
for _, identity in ipairs(target_identities) do known[identity] = true end
local moved_identities = lines(s.identities)
for _, identity in ipairs(moved_identities) do
  local ident_key = identity_key(ARGV[8], identity)
  if ident_key and redis.call('GET', ident_key) == S then redis.call('SET', ident_key, T) end
  if not known[identity] then
    target_identities[#target_identities + 1] = identity
    known[identity] = true
  end
end

-- Who was active last (the sticky agent follows them).
local function latest(convs_key)
  local top = redis.call('ZREVRANGE', convs_key, 0, 0, 'WITHSCORES')
  return tonumber(top[2] or 0)
end
local source_later = latest(KEYS[3]) > latest(KEYS[4])

-- The fields: the higher tier (ranked by the classification rules that name tiers; any
-- other tier below them, none lowest), the target's advisor else the source's, the sticky
-- agent of the contact active last, name / email / phone the target lacks.
local ranking = {}
for i, tier in ipairs(lines(ARGV[7])) do ranking[tier] = i end
local function rank(tier)
  if not tier or tier == '' then return 100000 end
  return ranking[string.lower(tier)] or 99999
end
local changes, after = {}, {}
local function change(field, value)
  if value and value ~= '' and value ~= t[field] then
    changes[field] = {before = t[field] or false, after = value}
    after[#after + 1] = field
    after[#after + 1] = value
  end
end
if rank(s.tier) < rank(t.tier) then change('tier', s.tier) end
if not t.advisor or t.advisor == '' then change('advisor', s.advisor) end
if s.last_agent and (source_later or not t.last_agent) then change('last_agent', s.last_agent) end
for _, field in ipairs({'name', 'email', 'phone'}) do
  if not t[field] or t[field] == '' then change(field, s[field]) end
end
local advisor = (changes.advisor and changes.advisor.after) or t.advisor

-- Conversations: the target's set gets them with their activity scores; each names the
-- target, and one still open waits for the merged contact's advisor.
local convs = redis.call('ZRANGE', KEYS[3], 0, -1, 'WITHSCORES')
for i = 1, #convs, 2 do
  local conv_id, score = convs[i], convs[i + 1]
  redis.call('ZADD', KEYS[4], score, conv_id)
  local conv_key = key(ARGV[9], conv_id)
  redis.call('HSET', conv_key, 'contact_id', T)
  if advisor and advisor ~= '' and redis.call('HGET', conv_key, 'status') ~= 'resolved' then
    redis.call('HSET', conv_key, 'advisor', advisor)
  end
end
redis.call('DEL', KEYS[3])

-- Verified claims: the target holds the source's too (the source keeps its set, for undo).
local claims_added = {}
for _, claim in ipairs(redis.call('SMEMBERS', KEYS[5])) do
  local claim_key = key(ARGV[10], claim)
  redis.call('SREM', claim_key, S)
  if redis.call('SADD', claim_key, T) == 1 then claims_added[#claims_added + 1] = claim end
  redis.call('SADD', KEYS[6], claim)
  if redis.call('SCARD', claim_key) < 2 then redis.call('ZREM', KEYS[11], claim) end
end

after[#after + 1] = 'identities'
after[#after + 1] = table.concat(target_identities, '\n')
redis.call('HSET', KEYS[2], unpack(after))
redis.call('HSET', KEYS[1], 'merged_into', T, 'merged_at', now, 'merge_id', ARGV[3])
redis.call('HSET', KEYS[9], 'id', ARGV[3], 'source', S, 'target', T, 'at', now,
  'actor_id', ARGV[5], 'actor_name', ARGV[6], 'conversations', #convs / 2,
  'identities', table.concat(moved_identities, '\n'),
  'changes', cjson.encode(changes), 'claims_added', cjson.encode(claims_added))
local entry = {type = 'merge', merge_id = ARGV[3], at = now, actor = ARGV[6], source = S,
  target = T, conversations = #convs / 2}
timeline(KEYS[7], entry)
timeline(KEYS[8], entry)
redis.call('ZADD', KEYS[10], now, S, now, T)
return {'ok', tostring(#convs / 2), tostring(#moved_identities)}
