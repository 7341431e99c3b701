-- Retract a message: its entry is deleted from the stream (the text is
-- gone from Redis) and its id and sender are kept in the retracted set, so
-- that history and the login push show it in its place; no other id or
-- read position moves.
-- KEYS: conversation stream, read positions, retracted set, unread counts,
--       and for a group: group hash, group members, group roles
-- ARGV: user, msg_id, whether the user is a server admin (1/0), the most
--       retracted messages kept (the retention)
-- Returns 'done|sender', 'again|sender' (retracted before), 'unknown' (no
-- such message) or 'forbidden'.
local user, id, serverAdmin, most = ARGV[1], ARGV[2], ARGV[3] == '1', tonumber(ARGV[4])
if KEYS[5] then
  if redis.call('EXISTS', KEYS[5]) == 0 then return redis.error_reply('no_such_group') end
  if not serverAdmin and redis.call('HEXISTS', KEYS[6], user) == 0 then
    return redis.error_reply('not_member')
  end
end
local key = padded(id)
local sender, outcome
local old = tombstones(KEYS[3], '[' .. key, '(' .. key .. '}', false, 1)[1]
if old then
  sender, outcome = old[2][2], 'again'
else
  local entry = redis.call('XRANGE', KEYS[1], id, id)[1]
  if not entry then return 'unknown' end
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'f' then sender = fields[i + 1] end
  end
  outcome = 'done'
end
if sender ~= user and not (KEYS[5] and serverAdmin) then
  local role = KEYS[7] and redis.call('HGET', KEYS[7], user)
  if role ~= 'owner' and role ~= 'admin' then return 'forbidden' end
end
if outcome == 'done' then
  redis.call('XDEL', KEYS[1], id)
  redis.call('ZADD', KEYS[3], 0, key .. '|' .. sender)
  -- The unread counts may have counted it: they are counted again.
  redis.call('DEL', KEYS[4])
  -- Bounded like the stream: the oldest go first.
  local extra = redis.call('ZCARD', KEYS[3]) - most
  if extra > 0 then redis.call('ZREMRANGEBYRANK', KEYS[3], 0, extra - 1) end
end
return outcome .. '|' .. sender
