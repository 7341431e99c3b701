-- Create an account.  Its lobby membership is recorded next, in the lobby's
-- slot; until then the account is marked 'new' (and the lobby is in its
-- groups index), so a login finishes the job if the server stopped between.
-- KEYS: user hash, user's groups index
-- ARGV: password hash, display name, lobby name
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.error_reply('user_exists')
end
redis.call('HSET', KEYS[1], 'pw', ARGV[1], 'name', ARGV[2], 'new', '1')
redis.call('SADD', KEYS[2], ARGV[3])
return 1
