-- Leave a group.
-- KEYS: group hash, group members, group read positions
-- ARGV: user
local refused = groupError(KEYS[1], KEYS[2], ARGV[1])
if refused then return refused end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
