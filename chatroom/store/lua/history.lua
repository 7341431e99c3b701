-- A page of a conversation's history, newest first.
-- KEYS: conversation stream, and for a group: group hash, group members,
--       history starts
-- ARGV: user, end ('+' or '(' .. before), count, user is a server admin
--       (0/1)
local user, upper, count, serverAdmin = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local lower = '-'
if KEYS[2] then
  if redis.call('EXISTS', KEYS[2]) == 0 then return redis.error_reply('no_such_group') end
  if redis.call('HEXISTS', KEYS[3], user) == 0 then
    if serverAdmin ~= '1' then return redis.error_reply('not_member') end
  else
    -- A member who joined under the "joined" rule sees from its joining.
    local from = redis.call('HGET', KEYS[4], user)
    if from then lower = '(' .. from end
  end
end
return redis.call('XREVRANGE', KEYS[1], upper, lower, 'COUNT', count)
