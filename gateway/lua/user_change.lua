-- A change to a user that must never leave the deployment without an admin: deleting a user,
-- or updating one (a role change among the fields). Refused with 'last_admin' when the user is
-- an admin, the change removes that (deleted, or a role other than admin), and no other admin
-- remains. The check and the write are one step, so two admins demoting or deleting each other
-- at the same moment cannot both succeed.
-- KEYS[1] user:<id>   KEYS[2] users   KEYS[3] user:email:<email>
-- KEYS[4..] user:<id> of every other user Python saw as an admin (re-checked here; an admin
--           created meanwhile is not counted, which can only refuse, never leave none)
-- ARGV[1] 'delete' | 'update'   ARGV[2] the new role, '' when unchanged   ARGV[3] the user id
-- ARGV[4..] field, value pairs to write (update)
-- Returns 'ok', 'missing' (no such user) or 'last_admin'.
local role = redis.call('HGET', KEYS[1], 'role')
if not role then
  return 'missing'
end
local demoted = ARGV[2] ~= '' and ARGV[2] ~= 'admin'
if role == 'admin' and (ARGV[1] == 'delete' or demoted) then
  local others = 0
  for i = 4, #KEYS do
    if KEYS[i] ~= KEYS[1] and redis.call('HGET', KEYS[i], 'role') == 'admin' then
      others = others + 1
    end
  end
  if others == 0 then
    return 'last_admin'
  end
end
if ARGV[1] == 'delete' then
  redis.call('DEL', KEYS[1], KEYS[3])
  redis.call('SREM', KEYS[2], ARGV[3])
elseif #ARGV > 3 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 4))
end
return 'ok'
