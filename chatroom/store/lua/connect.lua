-- A connection of a user logged in on a node.
-- KEYS: user's locations hash, node's users set, online zset, user's groups
-- ARGV: user, node, prefix of group member hashes
-- Returns {first connection anywhere (0/1), users online, {group, size, ...}}
local n = redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
redis.call('SADD', KEYS[2], ARGV[1])
local first = 0
if redis.call('ZADD', KEYS[3], 'NX', 0, ARGV[1]) == 1 then first = 1 end
local groups = redis.call('SMEMBERS', KEYS[4])
local sized = {}
for _, g in ipairs(groups) do
  sized[#sized + 1] = g
  sized[#sized + 1] = redis.call('HLEN', ARGV[3] .. g)
end
return {first, redis.call('ZCARD', KEYS[3]), sized}
