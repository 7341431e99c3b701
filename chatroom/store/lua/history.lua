-- A page of a conversation's history, newest first, retracted messages
-- (kept only as their id and sender) in their places.
-- KEYS: conversation stream, read positions, retracted set, unread counts,
--       and for a group: group hash, group members, history starts
-- ARGV: user, before (a msg_id, or '' for the newest), count, user is a
--       server admin (0/1)
local user, beforeId, count, serverAdmin = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local lower, floor = '-', '-'
if KEYS[5] then
  if redis.call('EXISTS', KEYS[5]) == 0 then return redis.error_reply('no_such_group') end
  if redis.call('HEXISTS', KEYS[6], user) == 0 then
    if serverAdmin ~= '1' then return redis.error_reply('not_member') end
  else
    -- A member who joined under the "joined" rule sees from its joining.
    local from = redis.call('HGET', KEYS[7], user)
    if from then lower, floor = '(' .. from, '(' .. padded(from) .. '}' end
  end
end
local upper, high = '+', '+'
if beforeId ~= '' then upper, high = '(' .. beforeId, '(' .. padded(beforeId) end
local entries = redis.call('XREVRANGE', KEYS[1], upper, lower, 'COUNT', count)
-- A full page ends at its oldest entry: retracted ones older than that
-- belong to the next page.
local low = floor
if #entries == count then low = '[' .. padded(entries[#entries][1]) end
return merged(entries, tombstones(KEYS[3], low, high, true), count, true)
