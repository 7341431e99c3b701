-- Move a read position forward (never back, never past the newest message).
-- KEYS: conversation stream, read positions, and for a group: group hash,
--       group members
-- ARGV: user, upto
-- Returns 1 if the position moved, 0 if not.
local user, upto = ARGV[1], ARGV[2]
if KEYS[3] then
  local refused = groupError(KEYS[3], KEYS[4], user)
  if refused then return refused end
end
local last = lastId(KEYS[1])
if not last then return 0 end
local pos = upto
if before(last, pos) then pos = last end
local cur = redis.call('HGET', KEYS[2], user)
if cur and not before(cur, pos) then return 0 end
redis.call('HSET', KEYS[2], user, pos)
return 1
