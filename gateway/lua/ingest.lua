-- Dedupe + contact + conversation (open / append / reopen) + message append + enqueue, atomically.
-- Python read the identity and thread first and passes what it saw; if either changed since,
-- we answer 'retry' and Python reads again (optimistic: every key is declared up front).
--
-- KEYS: 1 dedupe, 2 identity, 3 thread, 4 contact, 5 conv (existing), 6 msgs (existing),
--       7 conv (new), 8 msgs (new), 9 queue, 10 conversations index, 11 contact's conversations
-- ARGV: 1 expected contact id or '', 2 new contact id, 3 expected conv id or '', 4 new conv id,
--       5 now ms, 6 reopen window ms, 7 dedupe ttl s, 8 message json, 9 contact fields json,
--       10 new conversation fields json, 11 class, 12 class rank, 13 rule, 14 first response due,
--       15 reply context json, 16 identity "channel:external id"
local now = tonumber(ARGV[5])

if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'dup', redis.call('GET', KEYS[1])}
end

local contact_id = redis.call('GET', KEYS[2])
if (contact_id or '') ~= ARGV[1] then
  return {'retry'}
end
local contact_fields = cjson.decode(ARGV[9])
if not contact_id then
  contact_id = ARGV[2]
  redis.call('HSET', KEYS[4], 'id', contact_id, 'created_at', now, 'identities', ARGV[16])
  redis.call('SET', KEYS[2], contact_id)
end
for field, value in pairs(contact_fields) do
  if value ~= '' then redis.call('HSETNX', KEYS[4], field, value) end
end

local conv_id = redis.call('GET', KEYS[3])
if (conv_id or '') ~= ARGV[3] then
  return {'retry'}
end

local mode = 'new'
local conv_key, msgs_key = KEYS[7], KEYS[8]
if conv_id then
  local state = redis.call('HMGET', KEYS[5], 'status', 'resolved_at')
  if state[1] == 'resolved' then
    if now - tonumber(state[2] or 0) <= tonumber(ARGV[6]) then mode = 'reopened' end
  elseif state[1] then
    mode = 'appended'
  end
end

if mode == 'new' then
  conv_id = ARGV[4]
  local init = cjson.decode(ARGV[10])
  for field, value in pairs(init) do
    redis.call('HSET', conv_key, field, value)
  end
  redis.call('HSET', conv_key, 'id', conv_id, 'contact_id', contact_id, 'status', 'open',
    'priority', ARGV[11], 'priority_rank', ARGV[12], 'priority_rule', ARGV[13],
    'created_at', now, 'first_response_due', ARGV[14], 'last_seq', 0)
  redis.call('SET', KEYS[3], conv_id)
else
  conv_key, msgs_key = KEYS[5], KEYS[6]
  if mode == 'reopened' then
    redis.call('HSET', conv_key, 'status', 'open', 'priority', ARGV[11],
      'priority_rank', ARGV[12], 'priority_rule', ARGV[13], 'first_response_due', ARGV[14])
    redis.call('HDEL', conv_key, 'resolved_at', 'assignee', 'first_response_at')
  else
    local fields = redis.call('HMGET', conv_key, 'status', 'priority_rank')
    if fields[1] ~= 'open' then
      -- A customer writing ends pending / snoozed.
      redis.call('HSET', conv_key, 'status', 'open')
      redis.call('HDEL', conv_key, 'snoozed_until')
    end
    if tonumber(ARGV[12]) < tonumber(fields[2] or 99) then
      redis.call('HSET', conv_key, 'priority', ARGV[11], 'priority_rank', ARGV[12],
        'priority_rule', ARGV[13])
    end
  end
end

local seq = redis.call('HINCRBY', conv_key, 'last_seq', 1)
redis.call('HSET', msgs_key, seq, ARGV[8])
redis.call('HSET', conv_key, 'updated_at', now, 'last_inbound_at', now, 'reply_context', ARGV[15])
redis.call('HSETNX', conv_key, 'waiting_since', now)
redis.call('SET', KEYS[1], conv_id .. ':' .. seq, 'EX', ARGV[7])
redis.call('ZADD', KEYS[10], now, conv_id)
redis.call('ZADD', KEYS[11], now, conv_id)

local who = redis.call('HMGET', conv_key, 'assignee', 'offered_to')
if not who[1] and not who[2] then
  -- Waiting: queue by first-response deadline; a more urgent message only moves it forward.
  redis.call('ZADD', KEYS[9], 'LT', ARGV[14], conv_id)
  local due = redis.call('ZSCORE', KEYS[9], conv_id)
  redis.call('HSET', conv_key, 'first_response_due', due)
end
return {mode, conv_id, seq, contact_id, who[1] or '', who[2] or ''}
