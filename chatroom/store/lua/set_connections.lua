-- Set a user's connections on a node (the node re-counts after an outage).
-- KEYS: user's locations
-- ARGV: node, connections
-- Returns 1 if the user had no connection anywhere before.
local node, count = ARGV[1], ARGV[2]
local was = redis.call('HLEN', KEYS[1])
redis.call('HSET', KEYS[1], node, count)
if was == 0 then return 1 end
return 0
