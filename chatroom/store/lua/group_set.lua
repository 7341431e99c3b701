-- Change a group's settings: the owner and admins may.
-- KEYS: the group's keys (_group.lua)
-- ARGV: actor, group name, actor is a server admin (0/1), then pairs of
--       setting ('title', 'visibility', 'history') and value
-- Returns the settings that changed, as pairs.
local actor, name, serverAdmin = ARGV[1], ARGV[2], ARGV[3]
local refused = unseen(name, actor, serverAdmin)
if refused then return refused end
local r = rank(actor, serverAdmin)
if r == 0 then return fail('not_member', 'you are not a member of that group') end
if r < 2 then return fail('forbidden', 'only the owner and admins may change the group') end
for i = 4, #ARGV, 2 do
  if name == LOBBY and ((ARGV[i] == 'visibility' and ARGV[i + 1] ~= 'public')
      or (ARGV[i] == 'history' and ARGV[i + 1] ~= 'shared')) then
    return fail('forbidden', 'the lobby stays public and shared')
  end
end
local changed = {}
for i = 4, #ARGV, 2 do
  if setting(ARGV[i]) ~= ARGV[i + 1] then
    redis.call('HSET', G, ARGV[i], ARGV[i + 1])
    changed[#changed + 1] = ARGV[i]
    changed[#changed + 1] = ARGV[i + 1]
  end
end
return changed
