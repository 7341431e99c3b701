-- Join a group: the read position starts at the group's newest message, so
-- the backlog of a new member begins with its joining.
-- KEYS: groups set, group members, user's groups, user's read positions,
--       group stream
-- ARGV: group, user
-- Returns 1 if the user joined, 0 if already a member.
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then
  return redis.error_reply('no_such_group')
end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return 0 end
local last = redis.call('XREVRANGE', KEYS[5], '+', '-', 'COUNT', 1)
local pos = '0-0'
if last[1] then pos = last[1][1] end
redis.call('HSET', KEYS[2], ARGV[2], pos)
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[4], 'g:' .. ARGV[1], pos)
return 1
