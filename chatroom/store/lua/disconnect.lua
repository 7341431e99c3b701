-- A connection of a user on a node went away (or all of them, with a
-- count of 0: the node is gone).
-- KEYS: user's locations
-- ARGV: node, connections gone (0: all of them)
-- Returns {last connection anywhere (0/1), connections left on the node}
local node, gone = ARGV[1], ARGV[2]
local n = 0
if gone ~= '0' then
  n = redis.call('HINCRBY', KEYS[1], node, -tonumber(gone))
end
if n > 0 then return {0, n} end
redis.call('HDEL', KEYS[1], node)
if redis.call('HLEN', KEYS[1]) > 0 then return {0, 0} end
return {1, 0}
