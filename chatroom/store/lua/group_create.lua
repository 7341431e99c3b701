-- Create a group with its creator as first member and owner.
-- KEYS: the group's keys (_group.lua)
-- ARGV: creator, creation time (ms), visibility, history, title
-- Returns 'created', or 'member'/'other' when the group exists (whether the
-- creator is a member of it decides whether its groups index keeps it).
local creator, created, visibility, history, title = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('EXISTS', G) == 1 then
  if redis.call('HEXISTS', M, creator) == 1 then return 'member' end
  return 'other'
end
-- A deleted group of that name left its stream empty, with its last id:
-- the new group's messages come after it, and a cid record at or before it
-- is the old group's.
local born = '0-0'
if redis.call('EXISTS', S) == 1 then
  local info = redis.call('XINFO', 'STREAM', S)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then born = info[i + 1] end
  end
end
redis.call('DEL', R, O, ROLES, B, F, RETRACTED, UNREAD)
redis.call('HSET', G, 'created', created, 'creator', creator, 'v', 1, 'seq', 1, 'owner', creator, 'visibility', visibility,
           'history', history, 'title', title, 'born', born)
redis.call('HSET', M, creator, '0-0')
redis.call('ZADD', O, 1, creator)
redis.call('HSET', ROLES, creator, 'owner')
if history == 'joined' then redis.call('HSET', F, creator, '0-0') end
return 'created'
