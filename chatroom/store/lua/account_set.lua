-- Set (or, with an empty value, remove) a field of an existing account
-- (display name, server ban).
-- KEYS: user hash
-- ARGV: field, value
local field, value = ARGV[1], ARGV[2]
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'deleted') == 1 then
  return redis.error_reply('no_such_user')
end
if value == '' then
  redis.call('HDEL', KEYS[1], field)
else
  redis.call('HSET', KEYS[1], field, value)
end
return 1
