-- Files one inbound message in one round trip, atomically: dedupe, identity -> contact,
-- thread -> conversation (append / open / reopen), the message's verdict, message log (seq),
-- queue by deadline, SLA clocks.
--
-- The verdict depends on facts only Redis holds (the customer's stored tier, their unresolved
-- complaints in the repeat-complainer window): Python classified the message for every value
-- of them that changes the verdict (gateway/classify.py Variants) and this script picks one.
-- The contact and conversation are those the identity and thread name here; their keys are
-- built from templates made by gateway/keys.py (same hash tag as every declared key).
--
-- KEYS: 1 dedupe, 2 identity, 3 thread, 4 contact (new), 5 contact's conversations (new
--       contact), 6 conv (new), 7 msgs (new), 8 queue, 9 conversations index, 10 SLA watch,
--       11 snoozed, 12 contacts changed (the search index's feed of contacts)
-- ARGV: 1 new contact id, 2 new conv id, 3 now ms, 4 reopen window ms, 5 dedupe ttl s,
--       6, 7 the message json before and after its author's id (the contact's, known here),
--       8 reply context json, 9 identity "channel:external id",
--       10..13 key templates with "\1" where the id goes: contact, contact's conversations,
--       conversation, messages; 14 complaint window ms (0: complaints not counted),
--       15 the verdict lists, 16 the contact fields, 17 the new conversation fields,
--       18.. one per verdict; each packed in one string, items '<byte length>:<bytes>' (one
--       argument instead of many: redis-py encodes each argument in Python; and only what
--       is used is unpacked here). 15: complaint thresholds and tiers (lowercase; none: the
--       tier is not read), each a count and its items, then the variant map (one string:
--       byte 64 + verdict number per variant, see Variants) and the number of verdicts;
--       16, 17: name, value pairs (contact fields: non-empty ones); a verdict: class, rank,
--       rule, first response due, next response due, resolution due, queue due first,
--       queue due next, team, skills json, language ('' for none).
-- Returns {mode, conv id, seq, contact id, assignee, offered to}, {'dup', "conv:seq", contact
-- id}, or {'facts', stored tier, complaints} when Python must classify with them (a stored
-- tier that is not ASCII, or no verdicts given); nothing is written then.
-- The queue is ordered by 'queue_due', the routing deadline (router/sla.py queue_target).
local now = tonumber(ARGV[3])

-- Reads: dedupe, identity and thread in one MGET, then the contact and the conversation (one
-- HMGET each). Every call from a script costs more than the command itself.
local known = redis.call('MGET', KEYS[1], KEYS[2], KEYS[3])
local dup = known[1]
if dup then
  return {'dup', dup, known[2] or ''}
end

local function key(template, id)
  return (string.gsub(template, '\1', id))
end

local function unpacked(packed)
  local out, pos = {}, 1
  while pos <= #packed do
    local colon = string.find(packed, ':', pos, true)
    local length = tonumber(string.sub(packed, pos, colon - 1))
    out[#out + 1] = string.sub(packed, colon + 1, colon + length)
    pos = colon + length + 1
  end
  return out
end

local L = unpacked(ARGV[15])
local at = 1
local function list()
  local count = tonumber(L[at])
  local first = at + 1
  at = at + 1 + count
  return first, count
end
local thresholds_at, thresholds = list()
local tiers_at, tiers = list()
local variant_map = L[at]
local verdicts = tonumber(L[at + 1])
local C = unpacked(ARGV[16])
local contact_fields = #C / 2

local contact_id = known[2]
local conv_id = known[3]
local contact_key, convs_key = KEYS[4], KEYS[5]
local sticky_agent, advisor, stored_tier = false, false, false
local missing = {}  -- the message's contact fields the contact does not have yet
if contact_id then
  contact_key, convs_key = key(ARGV[10], contact_id), key(ARGV[11], contact_id)
  local names = {'last_agent', 'advisor', 'tier'}
  for i = 0, contact_fields - 1 do names[4 + i] = C[1 + 2 * i] end
  local stored = redis.call('HMGET', contact_key, unpack(names))
  sticky_agent, advisor, stored_tier = stored[1], stored[2], stored[3]
  for i = 0, contact_fields - 1 do
    if not stored[4 + i] then
      missing[#missing + 1] = C[1 + 2 * i]
      missing[#missing + 1] = C[2 + 2 * i]
    end
  end
end

local FIELDS = {'status', 'resolved_at', 'priority_rank', 'paused_at', 'reopened',
  'waiting_since', 'first_response_at', 'first_response_due', 'next_response_due',
  'resolution_due', 'queue_due', 'assignee', 'offered_to', 'queue_score', 'last_agent',
  'last_seq'}
local c = {}  -- the conversation's fields as stored, kept up to date with our writes
local conv_key, msgs_key = KEYS[6], KEYS[7]
if conv_id then
  conv_key, msgs_key = key(ARGV[12], conv_id), key(ARGV[13], conv_id)
  local values = redis.call('HMGET', conv_key, unpack(FIELDS))
  for i, name in ipairs(FIELDS) do c[name] = values[i] end
end

-- The facts of the verdict: unresolved complaints (conversations active in the window that
-- are not resolved, plus every reopening, plus this message when it starts a new one) and
-- the stored tier; both only for a known contact, and only when they matter.
local complaints = 0
local window = tonumber(ARGV[14])
if contact_id and thresholds > 0 and window > 0 then
  local ids = redis.call('ZRANGEBYSCORE', convs_key, now - window, '+inf', 'LIMIT', 0, 50)
  local open_thread = false
  for _, id in ipairs(ids) do
    local status, reopened
    if id == conv_id then
      status, reopened = c.status, c.reopened
    else
      local state = redis.call('HMGET', key(ARGV[12], id), 'status', 'reopened')
      status, reopened = state[1], state[2]
    end
    complaints = complaints + tonumber(reopened or 0)
    if status and status ~= 'resolved' then
      complaints = complaints + 1
      if id == conv_id then open_thread = true end
    end
  end
  if not open_thread then complaints = complaints + 1 end
end
local tier_index = 0
if contact_id and tiers > 0 and stored_tier and stored_tier ~= '' then
  if string.find(stored_tier, '[\128-\255]') then
    return {'facts', stored_tier, complaints}  -- Lua lowercases ASCII only
  end
  local lowered = string.lower(stored_tier)
  for i = 0, tiers - 1 do
    if L[tiers_at + i] == lowered then tier_index = i + 1 end
  end
end
if verdicts == 0 then
  return {'facts', stored_tier or '', complaints}
end
local level = 0
for i = 0, thresholds - 1 do
  if complaints >= tonumber(L[thresholds_at + i]) then level = level + 1 end
end
local chosen = string.byte(variant_map, tier_index * (thresholds + 1) + level + 1) - 64
local V = unpacked(ARGV[17 + chosen])
local class, rank, rule = V[1], V[2], V[3]
local first_due, next_due, resolution_due_arg = V[4], V[5], V[6]
local queue_first, queue_next = V[7], V[8]

-- Writes to the conversation hash are gathered and made at the end: one HSET, one HDEL.
local sets, set_order, dels = {}, {}, {}
local function set(field, value)
  if sets[field] == nil then set_order[#set_order + 1] = field end
  sets[field] = value
  dels[field] = nil
  c[field] = value
end
local function del(field)
  if sets[field] ~= nil then sets[field] = false end
  dels[field] = true
  c[field] = false
end

-- The contact.
if not contact_id then
  contact_id = ARGV[1]
  local fields = {'id', contact_id, 'created_at', now, 'identities', ARGV[9]}
  for i = 1, #C do fields[6 + i] = C[i] end
  redis.call('HSET', contact_key, unpack(fields))
  redis.call('SET', KEYS[2], contact_id)
elseif #missing > 0 then
  -- A name, email or phone learned from this message: the search index reads the contact
  -- again through the contacts feed (only when a field was missing: no command otherwise).
  redis.call('HSET', contact_key, unpack(missing))
  redis.call('ZADD', KEYS[12], now, contact_id)
end

local mode = 'new'
if conv_id then
  if c.status == 'resolved' then
    if now - tonumber(c.resolved_at or 0) <= tonumber(ARGV[4]) then mode = 'reopened' end
  elseif c.status then
    mode = 'appended'
  end
end

if mode == 'new' then
  conv_id = ARGV[2]
  conv_key, msgs_key = KEYS[6], KEYS[7]
  c = {}
  local init = unpacked(ARGV[17])
  for i = 1, #init, 2 do set(init[i], init[i + 1]) end
  -- Routing hints of the classification rules (team, skills, language).
  if V[9] ~= '' then set('team', V[9]) end
  if V[10] ~= '' then set('skills', V[10]) end
  if V[11] ~= '' then set('language', V[11]) end
  set('id', conv_id)
  set('contact_id', contact_id)
  set('status', 'open')
  set('priority', class)
  set('priority_rank', rank)
  set('priority_rule', rule)
  set('created_at', now)
  set('first_response_due', first_due)
  set('resolution_due', resolution_due_arg)
  set('queue_due', queue_first)
  -- Sticky routing: the customer's previous agent and dedicated advisor (VIP).
  if sticky_agent then set('sticky_agent', sticky_agent) end
  if advisor then set('advisor', advisor) end
  redis.call('SET', KEYS[3], conv_id)
elseif mode == 'reopened' then
  local previous = c.last_agent or sticky_agent
  set('status', 'open')
  set('priority', class)
  set('priority_rank', rank)
  set('priority_rule', rule)
  set('first_response_due', first_due)
  set('resolution_due', resolution_due_arg)
  set('queue_due', queue_first)
  for _, field in ipairs({'resolved_at', 'assignee', 'first_response_at', 'next_response_due',
      'sla_breach', 'sla_level', 'widened', 'paused_at', 'excluded'}) do
    del(field)
  end
  if previous then set('sticky_agent', previous) end
  if advisor then set('advisor', advisor) end
  -- A complaint that came back: counted by the repeat-complainer rule.
  set('reopened', tonumber(c.reopened or 0) + 1)
else
  if c.status ~= 'open' then
    -- A customer writing ends pending / snoozed ...
    set('status', 'open')
    del('snoozed_until')
    redis.call('ZREM', KEYS[11], conv_id)
  end
  if c.paused_at then
    -- ... and the SLA pause: deadlines move later by its length.
    local shift = math.max(0, now - tonumber(c.paused_at))
    for _, field in ipairs({'first_response_due', 'next_response_due', 'resolution_due',
        'queue_due'}) do
      if c[field] then set(field, tonumber(c[field]) + shift) end
    end
    del('paused_at')
  end
  if tonumber(rank) < tonumber(c.priority_rank or 99) then
    set('priority', class)
    set('priority_rank', rank)
    set('priority_rule', rule)
  end
end

local seq = tonumber(c.last_seq or 0) + 1
set('last_seq', seq)
redis.call('HSET', msgs_key, seq, ARGV[6] .. contact_id .. ARGV[7])
set('updated_at', now)
set('last_inbound_at', now)
set('reply_context', ARGV[8])

-- SLA clocks: a message after an agent's reply starts the next-response clock.
if not c.waiting_since then
  set('waiting_since', now)
  if c.first_response_at then
    set('next_response_due', next_due)
    set('queue_due', queue_next)
  end
end
local response_due
local queue_due
if c.first_response_at then
  response_due = tonumber(c.next_response_due or next_due)
  queue_due = tonumber(c.queue_due or queue_next)
else
  -- Not answered yet: a more urgent message only moves the deadlines forward.
  response_due = tonumber(first_due)
  local before = tonumber(c.first_response_due or first_due)
  if before < response_due then response_due = before end
  queue_due = tonumber(queue_first)
  before = tonumber(c.queue_due or queue_first)
  if before < queue_due then queue_due = before end
  -- Written only when they moved (most appends leave them as they were).
  if tonumber(c.first_response_due) ~= response_due then set('first_response_due', response_due) end
  if tonumber(c.queue_due) ~= queue_due then set('queue_due', queue_due) end
end

local deleted = {}
for field in pairs(dels) do deleted[#deleted + 1] = field end
if #deleted > 0 then
  table.sort(deleted)
  redis.call('HDEL', conv_key, unpack(deleted))
end
local fields = {}
for _, field in ipairs(set_order) do
  if sets[field] ~= false then
    fields[#fields + 1] = field
    fields[#fields + 1] = sets[field]
  end
end
redis.call('HSET', conv_key, unpack(fields))

redis.call('SET', KEYS[1], conv_id .. ':' .. seq, 'EX', ARGV[5])
redis.call('ZADD', KEYS[9], now, conv_id)
redis.call('ZADD', convs_key, now, conv_id)

if not c.assignee and not c.offered_to then
  if c.queue_score then
    redis.call('ZADD', KEYS[8], 'NX', c.queue_score, conv_id)  -- a fixed position (peers)
  else
    -- Waiting: queued by its routing deadline, earliest first.
    redis.call('ZADD', KEYS[8], 'LT', queue_due, conv_id)
  end
end
-- The SLA watch looks at it when the earliest running deadline passes.
local resolution_due = tonumber(c.resolution_due or resolution_due_arg)
local first_check = response_due
if resolution_due < first_check then first_check = resolution_due end
redis.call('ZADD', KEYS[10], 'LT', first_check, conv_id)
return {mode, conv_id, seq, contact_id, c.assignee or '', c.offered_to or ''}
