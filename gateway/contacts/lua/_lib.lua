-- Shared by merge.lua and undo.lua (prepended by gateway.scripts.load_script).

-- A key from a template made by gateway/keys.py: '\1' (and '\2') where the ids go. A
-- function as the replacement: an id holding '%' stays as written.
local function key(template, a, b)
  local out = string.gsub(template, '\1', function() return a end)
  if b then out = string.gsub(out, '\2', function() return b end) end
  return out
end

-- The identity key of "<channel id>:<external id>" (channel ids hold no ':').
local function identity_key(template, identity)
  local colon = string.find(identity, ':', 1, true)
  if not colon then return nil end
  return key(template, string.sub(identity, 1, colon - 1), string.sub(identity, colon + 1))
end

-- The contact hash's identities field: one "<channel id>:<external id>" per line.
local function lines(value)
  local out = {}
  if not value or value == '' then return out end
  for line in string.gmatch(value, '[^\n]+') do out[#out + 1] = line end
  return out
end

local function timeline(list_key, entry)
  redis.call('LPUSH', list_key, cjson.encode(entry))
  redis.call('LTRIM', list_key, 0, 199)
end
