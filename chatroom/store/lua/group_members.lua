-- A page of a group's members, longest-standing first.
-- KEYS: the group's keys (_group.lua)
-- ARGV: user, group name, user is a server admin (0/1), cursor (the last
--       seniority of the previous page, or ''), page size
-- Returns {total, users, their roles ('' for members), the page's last
-- seniority or '' if it is the last page}.
local user, name, serverAdmin, cursor, limit = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local refused = unseen(name, user, serverAdmin)
if refused then return refused end
local low = '-inf'
if cursor ~= '' then low = '(' .. cursor end
local page = redis.call('ZRANGEBYSCORE', O, low, '+inf', 'WITHSCORES', 'LIMIT', 0, limit + 1)
local users, roles, last = {}, {}, ''
for i = 1, math.min(#page, 2 * limit), 2 do
  users[#users + 1] = page[i]
  last = page[i + 1]
end
if #page <= 2 * limit then last = '' end
if users[1] then
  for i, role in ipairs(redis.call('HMGET', ROLES, unpack(users))) do roles[i] = role or '' end
end
return {redis.call('ZCARD', O), users, roles, last}
