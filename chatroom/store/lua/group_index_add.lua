-- Add a group to a user's groups index, unless the user is in as many
-- groups as allowed: the entry is the place the user's join or create
-- holds in the cap, so two requests racing cannot both pass it.
-- KEYS: user's groups index
-- ARGV: group, most groups allowed (0: no limit)
-- Returns 1 if added, 0 if it was there already, -1 if at the cap.
local group, limit = ARGV[1], ARGV[2]
if redis.call('SISMEMBER', KEYS[1], group) == 1 then return 0 end
local most = tonumber(limit) or 0
if most > 0 and redis.call('SCARD', KEYS[1]) >= most then return -1 end
redis.call('SADD', KEYS[1], group)
return 1
