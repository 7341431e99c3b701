-- Whether a user is a member of a group, the group's size, and what
-- group.list shows of it.
-- KEYS: group hash, group members, group roles
-- ARGV: user
-- Returns {member (0/1), members, role, title, visibility}.
local user = ARGV[1]
local size = redis.call('HLEN', KEYS[2])
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[2], user) == 0 then
  return {0, size, '', '', ''}
end
local meta = redis.call('HMGET', KEYS[1], 'title', 'visibility')
return {1, size, redis.call('HGET', KEYS[3], user) or 'member', meta[1] or '', meta[2] or 'public'}
