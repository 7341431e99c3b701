-- Leave a group.
-- KEYS: group hash, group members, group read positions
-- ARGV: user
local user = ARGV[1]
local refused = groupError(KEYS[1], KEYS[2], user)
if refused then return refused end
redis.call('HDEL', KEYS[2], user)
redis.call('HDEL', KEYS[3], user)
return 1
