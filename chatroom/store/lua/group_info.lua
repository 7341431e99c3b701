-- A group's settings and the caller's role.
-- KEYS: the group's keys (_group.lua)
-- ARGV: user, group name, user is a server admin (0/1)
-- Returns {title, visibility, history, owner or '', members, role or ''}.
local user, name, serverAdmin = ARGV[1], ARGV[2], ARGV[3]
local refused = unseen(name, user, serverAdmin)
if refused then return refused end
local role = ''
if redis.call('HEXISTS', M, user) == 1 then role = redis.call('HGET', ROLES, user) or 'member' end
return {setting('title'), setting('visibility'), setting('history'), redis.call('HGET', G, 'owner') or '',
        redis.call('HLEN', M), role}
