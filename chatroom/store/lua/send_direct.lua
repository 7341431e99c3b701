-- Store a batch of direct messages (the sends of one reactor turn, so that
-- their cost in round trips and script calls is shared) and mark each
-- pending for its recipient.  Each message is checked on its own: one to an
-- unknown user fails alone.
-- ARGV: retention, prefix of user hashes, prefix of pending hashes, prefix
--       of location hashes, then for each message: recipient, conversation
--       stream, sender, text, cid key ('' without a cid)
-- Returns for each message '1|msg_id|status|replayed (0/1)|node,node,...'
-- (the nodes where the recipient or the sender has connections), or
-- '0|error code': one flat string, which costs the client far less to
-- read than nested arrays.
local retention, userPrefix, pendingPrefix, locPrefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local out = {}
for i = 5, #ARGV, 5 do
  local recipient, stream, sender, text, cidKey = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local result
  if redis.call('EXISTS', userPrefix .. recipient) == 0 then
    result = '0|no_such_user'
  else
    if cidKey ~= '' then
      local prev = redis.call('GET', cidKey)
      if prev then
        local sep = string.find(prev, '|', 1, true)
        result = '1|' .. prev .. '|1|'
      end
    end
    if not result then
      local id = redis.call('XADD', stream, 'MAXLEN', '~', retention, '*', 'f', sender, 't', text)
      redis.call('HSET', pendingPrefix .. recipient, sender, stream)
      local recipientLoc = locPrefix .. recipient
      local nodes = redis.call('HKEYS', recipientLoc)
      local status = 'stored'
      if #nodes > 0 then status = 'delivered' end
      if cidKey ~= '' then
        redis.call('SET', cidKey, id .. '|' .. status, 'EX', 86400)
      end
      for _, node in ipairs(redis.call('HKEYS', locPrefix .. sender)) do nodes[#nodes + 1] = node end
      result = '1|' .. id .. '|' .. status .. '|0|' .. table.concat(nodes, ',')
    end
  end
  out[#out + 1] = result
end
return out
