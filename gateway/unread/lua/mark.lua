-- An agent's read position in one conversation only moves forward (two devices, one late).
-- KEYS[1] the agent's read positions (hash conversation -> seq); ARGV[1] conversation, ARGV[2] seq.
local seen = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local seq = tonumber(ARGV[2])
if seq > seen then
  redis.call('HSET', KEYS[1], ARGV[1], seq)
  return seq
end
return seen
