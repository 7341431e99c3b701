-- Store a group message from one of its members.
-- KEYS: group hash, group members, group stream, sender's cid record (or
--       the stream again)
-- ARGV: sender, text, retention, has cid (0/1)
-- Returns 'msg_id|replayed (0/1)'.
local sender, text, retention, hasCid = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local refused = groupError(KEYS[1], KEYS[2], sender)
if refused then return refused end
if hasCid == '1' then
  local prev = redis.call('GET', KEYS[4])
  if prev then return prev .. '|1' end
end
local id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', retention, '*', 'f', sender, 't', text)
if hasCid == '1' then
  redis.call('SET', KEYS[4], id, 'EX', 86400)
end
return id .. '|0'
