-- Join a group: the member's missed messages start at the group's newest
-- message.
-- KEYS: the group's keys (_group.lua)
-- ARGV: user, the most members allowed (0: no limit), group name, server
--       admin (0/1)
-- Returns 1 if the user joined, 0 if already a member, -1 if the group has
-- as many members as allowed (nothing changed).
local user, limit, name, serverAdmin = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', G) == 0 then return fail('no_such_group', 'no such group') end
adopt(name)
if redis.call('HEXISTS', M, user) == 1 then return 0 end
if serverAdmin ~= '1' then
  if redis.call('SISMEMBER', B, user) == 1 then return fail('forbidden', 'you are banned from that group') end
  if redis.call('HGET', G, 'visibility') == 'private' then
    return fail('forbidden', 'that group is private: a member must add you')
  end
end
local most = tonumber(limit or '0') or 0
if most > 0 and redis.call('HLEN', M) >= most then return -1 end
addMember(user)
return 1
