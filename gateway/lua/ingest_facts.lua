-- What the inbox must know before it classifies a message, in one round trip: the contact and
-- open thread the message belongs to, whether it is a duplicate, the contact's stored tier and
-- their unresolved complaints in the repeat-complainer window.
--
-- KEYS: 1 identity, 2 thread, 3 dedupe
-- ARGV: 1 '1' to read the stored tier, 2 complaint window ms (0: not needed), 3 now ms,
--       4 contact key, 5 contact's conversations key, 6 conversation key: templates from
--       gateway/keys.py with "\1" where the id goes (keys are only built there).
-- Returns: {contact id, conversation id, duplicate "conv:seq", tier, complaints}, '' for none.
local contact_id = redis.call('GET', KEYS[1])
local conv_id = redis.call('GET', KEYS[2])
local dup = redis.call('GET', KEYS[3])
if dup or not contact_id then
  return {contact_id or '', conv_id or '', dup or '', '', 0}
end

local function key(template, id)
  return (string.gsub(template, '\1', id))
end

local tier = ''
if ARGV[1] == '1' then
  tier = redis.call('HGET', key(ARGV[4], contact_id), 'tier') or ''
end

local window = tonumber(ARGV[2])
local complaints = 0
if window > 0 then
  -- Unresolved complaints: conversations active in the window that are not resolved, plus
  -- every reopening, plus this message when it starts a new one.
  local ids = redis.call('ZRANGEBYSCORE', key(ARGV[5], contact_id),
    tonumber(ARGV[3]) - window, '+inf', 'LIMIT', 0, 50)
  local open_thread = false
  for _, id in ipairs(ids) do
    local state = redis.call('HMGET', key(ARGV[6], id), 'status', 'reopened')
    complaints = complaints + tonumber(state[2] or 0)
    if state[1] and state[1] ~= 'resolved' then
      complaints = complaints + 1
      if id == conv_id then open_thread = true end
    end
  end
  if not open_thread then complaints = complaints + 1 end
end
return {contact_id, conv_id or '', '', tier, complaints}
