-- Before the first message between two users: the recipient exists (and
-- is not deleted: a deleted account has lost its password hash), and its
-- index of conversations names the sender.
-- KEYS: recipient's user hash, recipient's peers index
-- ARGV: sender
local sender = ARGV[1]
if redis.call('HEXISTS', KEYS[1], 'pw') == 0 then
  return redis.error_reply('no_such_user')
end
redis.call('SADD', KEYS[2], sender)
return 1
