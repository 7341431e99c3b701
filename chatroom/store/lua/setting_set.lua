-- Set one of a user's settings, if the account exists (a deleted one is
-- not brought back as a hash holding only a setting).
-- KEYS: user hash
-- ARGV: field, value
local field, value = ARGV[1], ARGV[2]
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('no_such_user') end
redis.call('HSET', KEYS[1], field, value)
return 1
