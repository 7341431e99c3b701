-- Change a group's settings: the owner and admins may.
-- KEYS: the group's keys (_group.lua)
-- ARGV: actor, group name, actor is a server admin (0/1), then pairs of
--       setting ('title', 'visibility', 'history') and value
-- Returns the settings that changed, as pairs.
local actor, name, serverAdmin = ARGV[1], ARGV[2], ARGV[3]
local r, refused = memberRank(name, actor, serverAdmin)
if not r then return refused end
if r < 2 then return fail('forbidden', 'only the owner and admins may change the group') end
-- The settings asked for, as {field, value} pairs.
local asked = {}
for i = 4, #ARGV, 2 do asked[#asked + 1] = {ARGV[i], ARGV[i + 1]} end
for _, pair in ipairs(asked) do
  local field, value = pair[1], pair[2]
  if name == LOBBY and ((field == 'visibility' and value ~= 'public')
      or (field == 'history' and value ~= 'shared')) then
    return fail('forbidden', 'the lobby stays public and shared')
  end
end
local changed = {}
for _, pair in ipairs(asked) do
  local field, value = pair[1], pair[2]
  if setting(field) ~= value then
    redis.call('HSET', G, field, value)
    changed[#changed + 1] = field
    changed[#changed + 1] = value
  end
end
return changed
