-- A page of a conversation's history, newest first.
-- KEYS: conversation stream, and for a group: group hash, group members
-- ARGV: user, end ('+' or '(' .. before), count
local user, upper, count = ARGV[1], ARGV[2], ARGV[3]
if KEYS[2] then
  local refused = groupError(KEYS[2], KEYS[3], user)
  if refused then return refused end
end
return redis.call('XREVRANGE', KEYS[1], upper, '-', 'COUNT', count)
