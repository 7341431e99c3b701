-- Join a group: the member's missed messages start at the group's newest
-- message.
-- KEYS: group hash, group members, group stream
-- ARGV: user
-- Returns 1 if the user joined, 0 if already a member.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.error_reply('no_such_group')
end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], lastId(KEYS[3]) or '0-0')
return 1
