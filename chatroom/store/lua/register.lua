-- Create an account.  Its lobby membership is recorded next, in the lobby's
-- slot; until then the account is marked 'new' (and the lobby is in its
-- groups index), so a login finishes the job if the server stopped between.
-- KEYS: user hash, user's groups index
-- ARGV: password hash, display name, lobby name, creation time (ms)
local passwordHash, displayName, lobby, created = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.error_reply('user_exists')
end
redis.call('HSET', KEYS[1], 'pw', passwordHash, 'name', displayName, 'created', created, 'new', '1')
redis.call('SADD', KEYS[2], lobby)
return 1
