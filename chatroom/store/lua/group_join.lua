-- Join a group: the member's missed messages start at the group's newest
-- message.
-- KEYS: group hash, group members, group stream
-- ARGV: user, optionally the most members allowed (0 or absent: no limit)
-- Returns 1 if the user joined, 0 if already a member, -1 if the group has
-- as many members as allowed (nothing changed).
local user, limit = ARGV[1], ARGV[2]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.error_reply('no_such_group')
end
if redis.call('HEXISTS', KEYS[2], user) == 1 then return 0 end
local most = tonumber(limit or '0') or 0
if most > 0 and redis.call('HLEN', KEYS[2]) >= most then return -1 end
redis.call('HSET', KEYS[2], user, lastId(KEYS[3]) or '0-0')
return 1
