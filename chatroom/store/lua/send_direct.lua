-- Store a direct message sent with a cid: the commit point of a send (a
-- send without a cid is a bare XADD).
-- KEYS: conversation stream, sender's cid record
-- ARGV: sender, text, retention, has cid (1)
-- Returns 'msg_id|replayed (0/1)'.
local sender, text, retention, hasCid = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if hasCid == '1' then
  local prev = redis.call('GET', KEYS[2])
  if prev then return prev .. '|1' end
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', retention, '*', 'f', sender, 't', text)
if hasCid == '1' then
  redis.call('SET', KEYS[2], id, 'EX', 86400)
end
return id .. '|0'
