-- Add a user to the blocker's blocks (the truth of 'blocks': the commit
-- point of 'block'), under the cap, noting the peer as pending until the
-- conversation's marker follows.
-- KEYS: blocker's blocks, blocker's pending markers
-- ARGV: peer, most blocks allowed
-- Returns 1 if added, 0 if it was there already, -1 at the cap.
local peer, most = ARGV[1], tonumber(ARGV[2])
if redis.call('SISMEMBER', KEYS[1], peer) == 1 then return 0 end
if redis.call('SCARD', KEYS[1]) >= most then return -1 end
redis.call('SADD', KEYS[1], peer)
redis.call('SADD', KEYS[2], peer)
return 1
