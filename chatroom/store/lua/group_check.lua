-- Whether a user is a member of a group, and the group's size.
-- KEYS: group hash, group members
-- ARGV: user
-- Returns {member (0/1), members}.
local user = ARGV[1]
local size = redis.call('HLEN', KEYS[2])
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[2], user) == 0 then
  return {0, size}
end
return {1, size}
