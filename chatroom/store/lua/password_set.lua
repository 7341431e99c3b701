-- Replace a password hash, if it is still the one that was checked (two
-- changes racing: the second finds the hash changed and fails).
-- KEYS: user hash
-- ARGV: the hash that was checked, the new hash
-- Returns 1 if replaced.
local checked, new = ARGV[1], ARGV[2]
if redis.call('HGET', KEYS[1], 'pw') ~= checked then return 0 end
redis.call('HSET', KEYS[1], 'pw', new)
return 1
