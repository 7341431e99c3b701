-- Forget every connection a node had (it restarted or died).
-- KEYS: node's users set, online zset
-- ARGV: node, prefix of location hashes
-- Returns the users that are now offline everywhere.
local gone = {}
for _, user in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local loc = ARGV[2] .. user
  redis.call('HDEL', loc, ARGV[1])
  if redis.call('HLEN', loc) == 0 then
    redis.call('ZREM', KEYS[2], user)
    gone[#gone + 1] = user
  end
end
redis.call('DEL', KEYS[1])
return gone
