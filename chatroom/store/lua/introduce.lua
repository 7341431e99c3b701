-- Before the first message between two users: the recipient exists, and
-- its index of conversations names the sender.
-- KEYS: recipient's user hash, recipient's peers index
-- ARGV: sender
local sender = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.error_reply('no_such_user')
end
redis.call('SADD', KEYS[2], sender)
return 1
