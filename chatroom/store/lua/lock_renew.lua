-- Keep a lock taken with SET key owner NX PX: extend it if it is still the
-- owner's (a process may also take back its own lock after an error).
-- KEYS: the lock
-- ARGV: owner, milliseconds
-- Returns 1 if the owner holds the lock, 0 if someone else does or nobody.
local owner, ms = ARGV[1], ARGV[2]
if redis.call('GET', KEYS[1]) == owner then
  redis.call('PEXPIRE', KEYS[1], ms)
  return 1
end
return 0
