-- Create a group with its creator as first member.
-- KEYS: group hash, group members
-- ARGV: creator, creation time (ms)
-- Returns 'created', or 'member'/'other' when the group exists (whether the
-- creator is a member of it decides whether its groups index keeps it).
local creator, created = ARGV[1], ARGV[2]
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('HEXISTS', KEYS[2], creator) == 1 then return 'member' end
  return 'other'
end
redis.call('HSET', KEYS[1], 'created', created, 'creator', creator)
redis.call('HSET', KEYS[2], creator, '0-0')
return 'created'
