-- Make Redis's record of a node's logged-in connections what the node
-- knows it to be, after the node lost its connection to Redis (Redis may
-- have restarted without its data, or missed count-outs while it was away).
-- Safe to run whatever Redis holds: the counts are set, not added.
-- KEYS: node's users set, online zset
-- ARGV: node, prefix of location hashes, then user, count, user, count...
-- Returns {users now offline everywhere, users now back online}.
local live = {}
for i = 3, #ARGV, 2 do
  live[ARGV[i]] = ARGV[i + 1]
end
local gone = {}
for _, user in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if not live[user] then
    local loc = ARGV[2] .. user
    redis.call('HDEL', loc, ARGV[1])
    redis.call('SREM', KEYS[1], user)
    if redis.call('HLEN', loc) == 0 and redis.call('ZREM', KEYS[2], user) == 1 then
      gone[#gone + 1] = user
    end
  end
end
local back = {}
for i = 3, #ARGV, 2 do
  local user = ARGV[i]
  redis.call('HSET', ARGV[2] .. user, ARGV[1], ARGV[i + 1])
  redis.call('SADD', KEYS[1], user)
  if redis.call('ZADD', KEYS[2], 'NX', 0, user) == 1 then
    back[#back + 1] = user
  end
end
return {gone, back}
