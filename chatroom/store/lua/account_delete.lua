-- Delete an account: no password any more (login fails), marked deleted;
-- the hash stays, so the name stays taken.  The commit point of
-- 'account.delete' (the group leaves come before, each in its group's slot).
-- KEYS: user hash
-- ARGV: the hash that was checked
-- Returns 1 if deleted, 0 if the password changed meanwhile.
local checked = ARGV[1]
if redis.call('HGET', KEYS[1], 'pw') ~= checked then return 0 end
redis.call('HDEL', KEYS[1], 'pw')
redis.call('HSET', KEYS[1], 'deleted', '1')
return 1
