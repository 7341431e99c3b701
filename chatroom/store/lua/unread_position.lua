-- Where a user's missed messages in one conversation start, if others
-- wrote any after the user's read position (retracted ones count: they
-- are pushed as such).
-- KEYS: conversation stream, read positions, retracted set, unread counts,
--       and for a group: group hash, group members
-- ARGV: user
-- Returns the read position if messages from others follow it, '' if not,
-- and '-' when the user is not a member of the group (a stale index entry).
local user = ARGV[1]
local pos = redis.call('HGET', KEYS[2], user)
if KEYS[5] then
  local joined = redis.call('HGET', KEYS[6], user)
  if redis.call('EXISTS', KEYS[5]) == 0 or not joined then return '-' end
  -- Never before the joining (an ack may name an older message).
  if not pos or before(pos, joined) then pos = joined end
end
pos = pos or '0-0'
-- The newest messages first: the user's own at the end of a conversation
-- are not missed.  Looked at in pages, at most a few before giving up and
-- letting the push sort them out.
local upper = '+'
for pageNumber = 1, 10 do
  local page = redis.call('XREVRANGE', KEYS[1], upper, '(' .. pos, 'COUNT', 50)
  if not page[1] then break end
  for _, entry in ipairs(page) do
    local fields = entry[2]
    for i = 1, #fields, 2 do
      if fields[i] == 'f' and fields[i + 1] ~= user then return pos end
    end
  end
  upper = '(' .. page[#page][1]
  if pageNumber == 10 then return pos end
end
for _, entry in ipairs(tombstones(KEYS[3], '(' .. padded(pos) .. '}', '+', false, 50)) do
  if entry[2][2] ~= user then return pos end
end
return ''
