-- Delete a group: its owner (or a server admin) may; never the lobby.
-- KEYS: the group's keys (_group.lua)
-- ARGV: actor, group name, actor is a server admin (0/1)
-- Returns the members it had.
local actor, name, serverAdmin = ARGV[1], ARGV[2], ARGV[3]
local r, refused = memberRank(name, actor, serverAdmin)
if not r then return refused end
if name == LOBBY then return fail('forbidden', 'the lobby cannot be deleted') end
if r < 3 then return fail('forbidden', 'only the owner may delete the group') end
local members = redis.call('HKEYS', M)
-- Nothing of it stays for a group made again under this name: not its
-- retractions, not its members' unread counts.
redis.call('DEL', G, M, R, O, ROLES, B, F, RETRACTED, UNREAD)
-- Emptied, not deleted: the stream keeps its last id, so a group made
-- again under this name never reuses a msg_id.
redis.call('XTRIM', S, 'MAXLEN', 0)
return members
