-- Add a user to a group: the owner and admins may, and in a public group
-- any member.
-- KEYS: the group's keys (_group.lua)
-- ARGV: actor, user added, the most members allowed (0: no limit), group
--       name, actor is a server admin (0/1)
-- Returns 1 if added, 0 if already a member, -1 if the group is full.
local actor, user, limit, name, serverAdmin = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local r, refused = memberRank(name, actor, serverAdmin)
if not r then return refused end
if r < 2 and setting('visibility') == 'private' then
  return fail('forbidden', 'only the owner and admins may add members to a private group')
end
if redis.call('HEXISTS', M, user) == 1 then return 0 end
if redis.call('SISMEMBER', B, user) == 1 then return fail('forbidden', 'that user is banned from the group') end
local most = tonumber(limit or '0') or 0
if most > 0 and redis.call('HLEN', M) >= most then return -1 end
addMember(user)
return 1
