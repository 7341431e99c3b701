-- Leave a group.
-- KEYS: groups set, group members, user's groups, user's read positions
-- ARGV: group, user
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then
  return redis.error_reply('no_such_group')
end
if redis.call('HDEL', KEYS[2], ARGV[2]) == 0 then
  return redis.error_reply('not_member')
end
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], 'g:' .. ARGV[1])
return 1
