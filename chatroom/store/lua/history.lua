-- A page of a conversation's history, newest first, retracted messages
-- (kept only as their id and sender) in their places.
-- KEYS: conversation stream, read positions, retracted set, unread counts,
--       and for a group: group hash, group members
-- ARGV: user, before (a msg_id, or '' for the newest), count
local user, beforeId, count = ARGV[1], ARGV[2], tonumber(ARGV[3])
if KEYS[5] then
  local refused = groupError(KEYS[5], KEYS[6], user)
  if refused then return refused end
end
local upper, high = '+', '+'
if beforeId ~= '' then upper, high = '(' .. beforeId, '(' .. padded(beforeId) end
local entries = redis.call('XREVRANGE', KEYS[1], upper, '-', 'COUNT', count)
-- A full page ends at its oldest entry: retracted ones older than that
-- belong to the next page.
local low = '-'
if #entries == count then low = '[' .. padded(entries[#entries][1]) end
return merged(entries, tombstones(KEYS[3], low, high, true), count, true)
