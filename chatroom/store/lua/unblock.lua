-- Remove a user from the blocker's blocks (the commit point of 'unblock'),
-- noting the peer as pending until the conversation's marker follows.
-- KEYS: blocker's blocks, blocker's pending markers
-- ARGV: peer
-- Returns 1 if it was blocked.
local peer = ARGV[1]
if redis.call('SREM', KEYS[1], peer) == 0 then return 0 end
redis.call('SADD', KEYS[2], peer)
return 1
