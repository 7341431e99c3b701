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
-- The cid records of a deleted group of that name are older than 'born'.
local now = redis.call('TIME')
redis.call('DEL', R, O, ROLES, B, F)
redis.call('HSET', G, 'created', created, 'v', 1, 'seq', 1, 'owner', creator, 'visibility', visibility,
           'history', history, 'title', title, 'born', string.format('%d', now[1] * 1000 + math.floor(now[2] / 1000)))
redis.call('HSET', M, creator, '0-0')
redis.call('ZADD', O, 1, creator)
redis.call('HSET', ROLES, creator, 'owner')
if history == 'joined' then redis.call('HSET', F, creator, '0-0') end
return 'created'
