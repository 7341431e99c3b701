-- Store a direct message with a client id: the commit point of a send.
-- Refused while either party blocks the other (the marker lives in the
-- conversation's slot, so the check and the write are one step; without a
-- cid the send is a bare XADD, refused by the sealed stream instead).
-- KEYS: conversation stream, the conversation's block marker, sender's cid
--       record
-- ARGV: sender, text, retention
-- Returns 'msg_id|replayed (0/1)'.
local sender, text, retention = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', KEYS[2]) == 1 then
  return redis.error_reply('blocked')
end
local prev = redis.call('GET', KEYS[3])
if prev then return prev .. '|1' end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', retention, '*', 'f', sender, 't', text)
redis.call('SET', KEYS[3], id, 'EX', 86400)
return id .. '|0'
