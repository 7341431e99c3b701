-- Create a group with its creator as first member.
-- KEYS: groups set, group members, creator's groups, creator's read positions
-- ARGV: group, creator
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then
  return redis.error_reply('group_exists')
end
redis.call('HSET', KEYS[2], ARGV[2], '0-0')
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[4], 'g:' .. ARGV[1], '0-0')
return 1
