-- A page of a conversation's history, newest first.
-- KEYS: peer's user hash or groups set, group members (or dummy),
--       conversation stream
-- ARGV: 'u' or 'g', peer or group, user, end ('+' or '(' .. before), count
local refused = conversationError(ARGV[1], KEYS[1], KEYS[2], ARGV[2], ARGV[3])
if refused then return refused end
return redis.call('XREVRANGE', KEYS[3], ARGV[4], '-', 'COUNT', ARGV[5])
