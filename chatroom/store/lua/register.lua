-- Create a user and make it a member of the lobby, atomically.
-- KEYS: user hash, user's groups, lobby members, user's read positions,
--       lobby stream, groups set
-- ARGV: user, password hash, display name, lobby name
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.error_reply('user_exists')
end
redis.call('HSET', KEYS[1], 'pw', ARGV[2], 'name', ARGV[3])
redis.call('SADD', KEYS[6], ARGV[4])
local last = redis.call('XREVRANGE', KEYS[5], '+', '-', 'COUNT', 1)
local pos = '0-0'
if last[1] then pos = last[1][1] end
redis.call('HSET', KEYS[3], ARGV[1], pos)
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('HSET', KEYS[4], 'g:' .. ARGV[4], pos)
return 1
