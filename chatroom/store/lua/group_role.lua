-- Change a member's role: the owner (or a server admin) makes admins and
-- members, or hands ownership over (the old owner becomes an admin).
-- KEYS: the group's keys (_group.lua)
-- ARGV: actor, user, 'owner'|'admin'|'member', group name, actor is a
--       server admin (0/1)
-- Returns {changed (0/1), the previous owner or ''}.
local actor, user, role, name, serverAdmin = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local r, refused = memberRank(name, actor, serverAdmin)
if not r then return refused end
if r < 3 then return fail('forbidden', 'only the owner may change roles') end
if redis.call('HEXISTS', M, user) == 0 then return fail('not_member', 'that user is not a member of that group') end
local current = redis.call('HGET', ROLES, user) or 'member'
if role == 'owner' then
  if name == LOBBY then return fail('forbidden', 'the lobby has no owner') end
  if current == 'owner' then return {0, ''} end
  local previous = redis.call('HGET', G, 'owner') or ''
  if previous ~= '' and redis.call('HGET', ROLES, previous) == 'owner' then
    redis.call('HSET', ROLES, previous, 'admin')
  end
  redis.call('HSET', ROLES, user, 'owner')
  redis.call('HSET', G, 'owner', user)
  return {1, previous}
end
if current == 'owner' then
  return fail('forbidden', 'the owner stays owner until it hands ownership to another member')
end
if current == role then return {0, ''} end
if role == 'admin' then redis.call('HSET', ROLES, user, 'admin') else redis.call('HDEL', ROLES, user) end
return {1, ''}
