-- Read past the queue head for conversations some available agent may take (read only).
-- The caller names the routing groups nobody available can take this round (a group is what
-- eligibility reads: class, channel, team, skills, language, widened, joined with '|'); the
-- scan skips conversations of those groups, so a head full of work only a busy senior may do
-- does not hide a web chat behind it. Bounded: at most ARGV[3] entries looked at.
-- KEYS: queue. ARGV: conversation key prefix, start rank, most to look at, most to return,
-- then the blocked groups. Returns {next start rank or -1 at the end, ids, scores}.
local prefix, start = ARGV[1], tonumber(ARGV[2])
local budget, want = tonumber(ARGV[3]), tonumber(ARGV[4])
local blocked = {}
for i = 5, #ARGV do blocked[ARGV[i]] = true end
local ids, scores = {}, {}
local rank = start
while budget > 0 and #ids < want do
  local chunk = math.min(100, budget)
  local page = redis.call('ZRANGE', KEYS[1], rank, rank + chunk - 1, 'WITHSCORES')
  if #page == 0 then return {-1, ids, scores} end
  for i = 1, #page, 2 do
    rank = rank + 1
    budget = budget - 1
    local f = redis.call('HMGET', prefix .. page[i], 'priority', 'channel_type', 'team', 'skills',
      'language', 'widened')
    local group = table.concat({f[1] or '', f[2] or '', f[3] or '', f[4] or '', f[5] or '',
      f[6] or ''}, '|')
    if not blocked[group] then
      ids[#ids + 1] = page[i]
      scores[#scores + 1] = page[i + 1]
      if #ids >= want then break end
    end
  end
end
return {rank, ids, scores}
