-- Leave a group (ownership passes on; a group left empty is deleted).
-- KEYS: the group's keys (_group.lua)
-- ARGV: user, group name
-- Returns {'left'|'heir'|'deleted', new owner or ''}.
local user, name = ARGV[1], ARGV[2]
if redis.call('EXISTS', G) == 0 then return fail('no_such_group', 'no such group') end
adopt(name)
if redis.call('HEXISTS', M, user) == 0 then return fail('not_member', 'you are not a member of that group') end
return removeMember(name, user)
