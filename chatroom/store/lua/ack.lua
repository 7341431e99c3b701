-- Move read positions forward (never back, never past the newest message):
-- the acks of one reactor turn in one call.
-- ARGV: for each ack: 'u' or 'g', peer or group, user, upto, peer's user
--       hash or the groups set, group members hash ('' for 'u'),
--       conversation stream, user's read positions, user's pending hash
-- Returns for each ack '1|moved (0/1)' or '0|error code'.
local out = {}
for i = 1, #ARGV, 9 do
  local kind, name, user, upto = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local nameKey, membersKey, stream, readKey, pendingKey =
    ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], ARGV[i + 8]
  local refused = conversationError(kind, nameKey, membersKey, name, user)
  if refused then
    out[#out + 1] = '0|' .. refused.err
  else
    local moved = 0
    local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
    if last[1] then
      last = last[1][1]
      local pos = upto
      if before(last, pos) then pos = last end
      local field = kind .. ':' .. name
      local cur = redis.call('HGET', readKey, field)
      if not cur or before(cur, pos) then
        redis.call('HSET', readKey, field, pos)
        if kind == 'u' and pos == last then redis.call('HDEL', pendingKey, name) end
        moved = 1
      end
    end
    out[#out + 1] = '1|' .. moved
  end
end
return out
