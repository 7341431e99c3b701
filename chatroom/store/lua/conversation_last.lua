-- When a conversation was last active: the conversation list orders a
-- user's conversations by it.
-- KEYS: conversation stream, read positions, retracted set, unread counts,
--       and for a group: group hash, group members
-- ARGV: user
-- Returns the newest msg_id (retracted messages included), '' for none,
-- '-' when the user is not a member of the group (a stale index entry).
local user = ARGV[1]
if KEYS[5] and (redis.call('EXISTS', KEYS[5]) == 0 or redis.call('HEXISTS', KEYS[6], user) == 0) then
  return '-'
end
local newest = newestEntry(KEYS[1], KEYS[3])
if newest then return newest[1] end
return ''
