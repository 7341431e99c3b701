-- A connection of a user on a node went away.
-- KEYS: user's locations hash, node's users set, online zset
-- ARGV: user, node
-- Returns 1 when it was the user's last connection anywhere.
local n = redis.call('HINCRBY', KEYS[1], ARGV[2], -1)
if n > 0 then return 0 end
redis.call('HDEL', KEYS[1], ARGV[2])
redis.call('SREM', KEYS[2], ARGV[1])
if redis.call('HLEN', KEYS[1]) > 0 then return 0 end
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
