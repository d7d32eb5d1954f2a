-- Keeps a sender's entries its own while it works on them: resets the idle time of each entry
-- still pending for this consumer, so another process's XAUTOCLAIM (after claim_idle_ms) takes
-- only the entries of a sender that died or stalled, never a send still in progress.
-- An entry another process already claimed (this one stalled past claim_idle_ms) stays theirs.
-- KEYS[1] the outbox stream; ARGV[1] group, ARGV[2] consumer, ARGV[3..] entry ids.
-- Returns the ids another consumer holds now (an entry no longer pending was settled).
local lost = {}
for i = 3, #ARGV do
  local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if pending[1] then  -- none: settled meanwhile
    if pending[1][2] == ARGV[2] then
      redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    else
      lost[#lost + 1] = ARGV[i]
    end
  end
end
return lost
