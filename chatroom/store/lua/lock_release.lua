-- Release a lock taken with SET key owner NX PX, if it is still the owner's.
-- KEYS: the lock
-- ARGV: owner
-- Returns 1 if it was released.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
