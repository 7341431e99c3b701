-- Move a read position forward (never back, never past the newest message).
-- KEYS: peer's user hash or groups set, group members (or dummy),
--       conversation stream, user's read positions, user's pending hash
-- ARGV: 'u' or 'g', peer or group, user, upto
local refused = conversationError(ARGV[1], KEYS[1], KEYS[2], ARGV[2], ARGV[3])
if refused then return refused end
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
if not last[1] then return 0 end
last = last[1][1]
local pos = ARGV[4]
if before(last, pos) then pos = last end
local field = ARGV[1] .. ':' .. ARGV[2]
local cur = redis.call('HGET', KEYS[4], field)
if cur and not before(cur, pos) then return 0 end
redis.call('HSET', KEYS[4], field, pos)
if ARGV[1] == 'u' and pos == last then redis.call('HDEL', KEYS[5], ARGV[2]) end
return 1
