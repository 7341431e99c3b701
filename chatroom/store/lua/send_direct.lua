-- Store a direct message and mark it pending for its recipient.
-- KEYS: recipient's user hash, conversation stream, recipient's pending hash
--       (peer -> stream), recipient's locations, sender's cid key (or a
--       dummy when no cid), sender's locations
-- ARGV: sender, text, retention, has cid (0/1)
-- Returns {msg_id, status, replayed (0/1), {node with a connection of the
-- recipient or the sender, ...}}
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.error_reply('no_such_user')
end
if ARGV[4] == '1' then
  local prev = redis.call('GET', KEYS[5])
  if prev then
    local sep = string.find(prev, '|', 1, true)
    return {string.sub(prev, 1, sep - 1), string.sub(prev, sep + 1), 1, {}}
  end
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'f', ARGV[1], 't', ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], KEYS[2])
local status = 'stored'
if redis.call('EXISTS', KEYS[4]) == 1 then status = 'delivered' end
if ARGV[4] == '1' then
  redis.call('SET', KEYS[5], id .. '|' .. status, 'EX', 86400)
end
local nodes = redis.call('HKEYS', KEYS[4])
for _, node in ipairs(redis.call('HKEYS', KEYS[6])) do nodes[#nodes + 1] = node end
return {id, status, 0, nodes}
