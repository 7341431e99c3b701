-- A conversation's messages after a position, oldest first, retracted
-- ones (id and sender only) in their places: the login push reads them.
-- KEYS: conversation stream, read positions, retracted set, unread counts
--       (and for a group the group's keys, unused: one key list for every
--       script)
-- ARGV: position, count
local position, count = ARGV[1], tonumber(ARGV[2])
local entries = redis.call('XRANGE', KEYS[1], '(' .. position, '+', 'COUNT', count)
local high = '+'
if #entries == count then high = '(' .. padded(entries[#entries][1]) .. '}' end
return merged(entries, tombstones(KEYS[3], '(' .. padded(position) .. '}', high, false), count, false)
