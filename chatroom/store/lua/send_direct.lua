-- Store a direct message: the commit point of a send.  Refused if the
-- recipient blocked the sender (the marker lives in the conversation's
-- slot, so the check and the write are one step).
-- KEYS: conversation stream, the conversation's block marker, sender's cid
--       record (or the stream again)
-- ARGV: sender, text, retention, has cid (0/1), recipient
-- Returns 'msg_id|replayed (0/1)', or the msg_id alone without a cid.
local sender, text, retention, hasCid, recipient = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('SISMEMBER', KEYS[2], recipient) == 1 then
  return redis.error_reply('blocked')
end
if hasCid == '1' then
  local prev = redis.call('GET', KEYS[3])
  if prev then return prev .. '|1' end
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', retention, '*', 'f', sender, 't', text)
if hasCid ~= '1' then return id end
redis.call('SET', KEYS[3], id, 'EX', 86400)
return id .. '|0'
