-- Dedupe + contact + conversation (open / append / reopen) + message append + enqueue +
-- SLA clocks, atomically.
-- Python read the identity and thread first and passes what it saw; if either changed since,
-- we answer 'retry' and Python reads again (optimistic: every key is declared up front).
--
-- KEYS: 1 dedupe, 2 identity, 3 thread, 4 contact, 5 conv (existing), 6 msgs (existing),
--       7 conv (new), 8 msgs (new), 9 queue, 10 conversations index, 11 contact's conversations,
--       12 SLA watch, 13 snoozed
-- ARGV: 1 expected contact id or '', 2 new contact id, 3 expected conv id or '', 4 new conv id,
--       5 now ms, 6 reopen window ms, 7 dedupe ttl s, 8 message json, 9 contact fields json,
--       10 new conversation fields json, 11 class, 12 class rank, 13 rule, 14 first response due,
--       15 reply context json, 16 identity "channel:external id", 17 next response due,
--       18 resolution due, 19 queue due (first response), 20 queue due (next response)
-- The queue is ordered by 'queue_due', the routing deadline (router/sla.py queue_target).
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

-- Sticky routing: the customer's previous agent and dedicated advisor (VIP).
local sticky = redis.call('HMGET', KEYS[4], 'last_agent', 'advisor')

if mode == 'new' then
  conv_id = ARGV[4]
  local init = cjson.decode(ARGV[10])
  for field, value in pairs(init) do
    redis.call('HSET', conv_key, field, value)
  end
  redis.call('HSET', conv_key, 'id', conv_id, 'contact_id', contact_id, 'status', 'open',
    'priority', ARGV[11], 'priority_rank', ARGV[12], 'priority_rule', ARGV[13],
    'created_at', now, 'first_response_due', ARGV[14], 'resolution_due', ARGV[18],
    'queue_due', ARGV[19], 'last_seq', 0)
  if sticky[1] then redis.call('HSET', conv_key, 'sticky_agent', sticky[1]) end
  if sticky[2] then redis.call('HSET', conv_key, 'advisor', sticky[2]) end
  redis.call('SET', KEYS[3], conv_id)
else
  conv_key, msgs_key = KEYS[5], KEYS[6]
  if mode == 'reopened' then
    local previous = redis.call('HGET', conv_key, 'last_agent') or sticky[1]
    redis.call('HSET', conv_key, 'status', 'open', 'priority', ARGV[11],
      'priority_rank', ARGV[12], 'priority_rule', ARGV[13], 'first_response_due', ARGV[14],
      'resolution_due', ARGV[18], 'queue_due', ARGV[19])
    redis.call('HDEL', conv_key, 'resolved_at', 'assignee', 'first_response_at',
      'next_response_due', 'sla_breach', 'sla_level', 'widened', 'paused_at', 'excluded')
    if previous then redis.call('HSET', conv_key, 'sticky_agent', previous) end
    if sticky[2] then redis.call('HSET', conv_key, 'advisor', sticky[2]) end
    -- A complaint that came back: counted by the repeat-complainer rule.
    redis.call('HINCRBY', conv_key, 'reopened', 1)
  else
    local fields = redis.call('HMGET', conv_key, 'status', 'priority_rank', 'paused_at')
    if fields[1] ~= 'open' then
      -- A customer writing ends pending / snoozed ...
      redis.call('HSET', conv_key, 'status', 'open')
      redis.call('HDEL', conv_key, 'snoozed_until')
      redis.call('ZREM', KEYS[13], conv_id)
    end
    if fields[3] then
      -- ... and the SLA pause: deadlines move later by its length.
      local shift = math.max(0, now - tonumber(fields[3]))
      for _, field in ipairs({'first_response_due', 'next_response_due', 'resolution_due',
          'queue_due'}) do
        local due = redis.call('HGET', conv_key, field)
        if due then redis.call('HSET', conv_key, field, tonumber(due) + shift) end
      end
      redis.call('HDEL', conv_key, 'paused_at')
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

-- SLA clocks: a message after an agent's reply starts the next-response clock.
local clock = redis.call('HMGET', conv_key, 'waiting_since', 'first_response_at')
if not clock[1] then
  redis.call('HSET', conv_key, 'waiting_since', now)
  if clock[2] then
    redis.call('HSET', conv_key, 'next_response_due', ARGV[17], 'queue_due', ARGV[20])
  end
end
local response_due
local queue_due
if clock[2] then
  response_due = tonumber(redis.call('HGET', conv_key, 'next_response_due') or ARGV[17])
  queue_due = tonumber(redis.call('HGET', conv_key, 'queue_due') or ARGV[20])
else
  -- Not answered yet: a more urgent message only moves the deadlines forward.
  response_due = tonumber(ARGV[14])
  local before = tonumber(redis.call('HGET', conv_key, 'first_response_due') or ARGV[14])
  if before < response_due then response_due = before end
  queue_due = tonumber(ARGV[19])
  before = tonumber(redis.call('HGET', conv_key, 'queue_due') or ARGV[19])
  if before < queue_due then queue_due = before end
  redis.call('HSET', conv_key, 'first_response_due', response_due, 'queue_due', queue_due)
end

redis.call('SET', KEYS[1], conv_id .. ':' .. seq, 'EX', ARGV[7])
redis.call('ZADD', KEYS[10], now, conv_id)
redis.call('ZADD', KEYS[11], now, conv_id)

local who = redis.call('HMGET', conv_key, 'assignee', 'offered_to', 'queue_score')
if not who[1] and not who[2] then
  if who[3] then
    redis.call('ZADD', KEYS[9], 'NX', who[3], conv_id)  -- a fixed position (simulated peers)
  else
    -- Waiting: queued by its routing deadline, earliest first.
    redis.call('ZADD', KEYS[9], 'LT', queue_due, conv_id)
  end
end
-- The SLA watch looks at it when the earliest running deadline passes.
local resolution_due = redis.call('HGET', conv_key, 'resolution_due') or ARGV[18]
local first_check = response_due
if tonumber(resolution_due) < first_check then first_check = tonumber(resolution_due) end
redis.call('ZADD', KEYS[12], 'LT', first_check, conv_id)
return {mode, conv_id, seq, contact_id, who[1] or '', who[2] or ''}
