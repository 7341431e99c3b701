-- Make Redis's record of a node's logged-in connections what the node
-- knows it to be, after the node lost its connection to Redis (Redis may
-- have restarted without its data, or missed count-outs while it was away).
-- Safe to run whatever Redis holds: the counts are set, not added.  In a
-- cluster it also renews the node's liveness key in the same step: after a
-- long outage that key has expired, and another node reaping this one right
-- after the re-count would count its live users out again.
-- KEYS: node's users set, online zset, nodes set, node's liveness key
-- ARGV: node, prefix of location hashes, liveness time-to-live in
--       milliseconds (0: not in a cluster), then user, count, user, count...
-- Returns {users now offline everywhere, users now back online}.
if tonumber(ARGV[3]) > 0 then
  redis.call('SADD', KEYS[3], ARGV[1])
  redis.call('SET', KEYS[4], '1', 'PX', ARGV[3])
end
local live = {}
for i = 4, #ARGV, 2 do
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
for i = 4, #ARGV, 2 do
  local user = ARGV[i]
  redis.call('HSET', ARGV[2] .. user, ARGV[1], ARGV[i + 1])
  redis.call('SADD', KEYS[1], user)
  if redis.call('ZADD', KEYS[2], 'NX', 0, user) == 1 then
    back[#back + 1] = user
  end
end
return {gone, back}
