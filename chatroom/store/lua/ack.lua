-- Move a read position forward (never back, never past the newest message).
-- KEYS: conversation stream, read positions, retracted set, unread counts,
--       and for a group: group hash, group members
-- ARGV: user, upto
-- Returns the new position if it moved, '' if not.
local user, upto = ARGV[1], ARGV[2]
if KEYS[5] then
  local refused = groupError(KEYS[5], KEYS[6], user)
  if refused then return refused end
end
local newest = newestEntry(KEYS[1], KEYS[3])
if not newest then return '' end
local pos = upto
if before(newest[1], pos) then pos = newest[1] end
local cur = redis.call('HGET', KEYS[2], user)
if cur and not before(cur, pos) then return '' end
redis.call('HSET', KEYS[2], user, pos)
return pos
