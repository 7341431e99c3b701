-- Make a direct conversation's block marker follow the blocker's list, and
-- seal or unseal its stream: while anyone in the conversation blocks the
-- other, the stream's last id is the largest there is, so every XADD to it
-- fails ("exhausted the last possible ID") and a send stays the bare XADD,
-- with the block checked by that same command.
-- KEYS: the conversation's stream, its block marker (the blockers), its
--       seal (the stream's last id before it was sealed)
-- ARGV: the blocker, blocked (1) or not (0)
local blocker, blocked = ARGV[1], ARGV[2]
local SEALED = '18446744073709551615-18446744073709551615'
if blocked == '1' then
  redis.call('SADD', KEYS[2], blocker)
else
  redis.call('SREM', KEYS[2], blocker)
end
local seal = redis.call('GET', KEYS[3])
if redis.call('SCARD', KEYS[2]) > 0 then
  if seal then return 1 end
  local last = '0-0'
  if redis.call('EXISTS', KEYS[1]) == 1 then
    local info = redis.call('XINFO', 'STREAM', KEYS[1])
    for i = 1, #info, 2 do
      if info[i] == 'last-generated-id' then last = info[i + 1] end
    end
  else
    -- A conversation with no message yet: an empty stream to seal.
    redis.call('XGROUP', 'CREATE', KEYS[1], 'seal', '$', 'MKSTREAM')
    redis.call('XGROUP', 'DESTROY', KEYS[1], 'seal')
  end
  redis.call('SET', KEYS[3], last)
  redis.call('XSETID', KEYS[1], SEALED)
  return 1
end
if seal then
  -- Nothing was added while sealed: the old last id is still at or past
  -- the newest entry, as XSETID requires.
  redis.call('XSETID', KEYS[1], seal)
  redis.call('DEL', KEYS[3])
end
return 0
