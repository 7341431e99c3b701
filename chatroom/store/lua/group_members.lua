-- A group's members with online flags.
-- KEYS: groups set, group members, online zset
-- ARGV: group
-- Returns {user, online (0/1), ...}
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then
  return redis.error_reply('no_such_group')
end
local out = {}
for _, user in ipairs(redis.call('HKEYS', KEYS[2])) do
  out[#out + 1] = user
  if redis.call('ZSCORE', KEYS[3], user) then out[#out + 1] = 1 else out[#out + 1] = 0 end
end
return out
