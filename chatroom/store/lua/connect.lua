-- A connection of a user logged in on a node.  The user's locations are
-- the truth of who is online; the node's index of users is written before
-- this, and the online set after it.
-- KEYS: user's locations, user's groups index, user hash
-- ARGV: node
-- Returns {first connection anywhere (0/1), {group, ...}, new account (0/1)}
local node = ARGV[1]
local n = redis.call('HINCRBY', KEYS[1], node, 1)
local first = 0
if n == 1 and redis.call('HLEN', KEYS[1]) == 1 then first = 1 end
local new = 0
if redis.call('HEXISTS', KEYS[3], 'new') == 1 then new = 1 end
return {first, redis.call('SMEMBERS', KEYS[2]), new}
