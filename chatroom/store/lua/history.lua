-- A page of a conversation's history, newest first.
-- KEYS: peer's user hash or groups set, group members (or dummy),
--       conversation stream
-- ARGV: 'u' or 'g', peer or group, user, end ('+' or '(' .. before), count
if ARGV[1] == 'u' then
  if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('no_such_user') end
else
  if redis.call('SISMEMBER', KEYS[1], ARGV[2]) == 0 then return redis.error_reply('no_such_group') end
  if redis.call('HEXISTS', KEYS[2], ARGV[3]) == 0 then return redis.error_reply('not_member') end
end
return redis.call('XREVRANGE', KEYS[3], ARGV[4], '-', 'COUNT', ARGV[5])
