-- Kick, ban or unban a user: the owner may (anyone but itself), admins may
-- (plain members and non-members only), server admins may (anyone).
-- KEYS: the group's keys (_group.lua)
-- ARGV: actor, user, 'kick'|'ban'|'unban', group name, actor is a server
--       admin (0/1)
-- Returns {changed (0/1), was a member (0/1), 'left'|'heir'|'deleted', new
-- owner or ''}.
local actor, user, action, name, serverAdmin = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local r, refused = memberRank(name, actor, serverAdmin)
if not r then return refused end
if r < 2 then return fail('forbidden', 'only the owner and admins may do that') end
if user == actor then return fail('bad_request', "field 'user': not yourself (leave the group instead)") end
local target = rank(user, '0')
if target >= r then return fail('forbidden', 'admins may not do that to the owner or another admin') end
if action == 'unban' then
  return {redis.call('SREM', B, user), 0, 'left', ''}
end
if action == 'kick' and target == 0 then
  return fail('not_member', 'that user is not a member of that group')
end
local changed = 1
if action == 'ban' then changed = redis.call('SADD', B, user) end
if target == 0 then return {changed, 0, 'left', ''} end
local removed = removeMember(name, user)
return {1, 1, removed[1], removed[2]}
