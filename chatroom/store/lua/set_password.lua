-- Replace a user's password hash (chatroom-admin reset-password); never
-- of a deleted account, which would log in again.
-- KEYS: user hash
-- ARGV: password hash
local passwordHash = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'deleted') == 1 then
  return redis.error_reply('no_such_user')
end
redis.call('HSET', KEYS[1], 'pw', passwordHash)
return 1
