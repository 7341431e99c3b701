-- Store a group message.
-- KEYS: groups set, group members, group stream, sender's cid key (or dummy)
-- ARGV: group, sender, text, retention, has cid (0/1)
-- Returns {msg_id, replayed (0/1)}
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then
  return redis.error_reply('no_such_group')
end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 0 then
  return redis.error_reply('not_member')
end
if ARGV[5] == '1' then
  local prev = redis.call('GET', KEYS[4])
  if prev then return {prev, 1} end
end
local id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'f', ARGV[2], 't', ARGV[3])
if ARGV[5] == '1' then
  redis.call('SET', KEYS[4], id, 'EX', 86400)
end
return {id, 0}
