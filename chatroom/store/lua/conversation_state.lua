-- One entry of a user's conversation list: the newest message, the read
-- position and the number of messages from others after it.  Counted
-- here, so that no message body leaves Redis but the newest.
-- KEYS: conversation stream, read positions, retracted set, and for a
--       group: group hash, group members
-- ARGV: user, the most unread messages counted, the most entries looked at
-- Returns '-' when the user is not a member of the group (a stale index
-- entry), else {newest entry or false, read position (for a group, its
-- joining until it acks) or '', unread}.
local user, most, budget = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local pos = redis.call('HGET', KEYS[2], user)
local start = pos
if KEYS[4] then
  local joined = redis.call('HGET', KEYS[5], user)
  if redis.call('EXISTS', KEYS[4]) == 0 or not joined then return '-' end
  start = pos or joined
end
-- From the newest back to the read position, a page at a time, until
-- enough are counted or the budget is spent (a user's own long run of
-- messages after its read position would otherwise be read in full).
local unread, upper, looked = 0, '+', 0
local lower = '(' .. (start or '0-0')
while unread < most and looked < budget do
  local page = redis.call('XREVRANGE', KEYS[1], upper, lower, 'COUNT', 200)
  if not page[1] then break end
  for _, entry in ipairs(page) do
    local fields = entry[2]
    local sender = fields[2]
    if fields[1] ~= 'f' then
      for i = 3, #fields, 2 do
        if fields[i] == 'f' then sender = fields[i + 1] end
      end
    end
    if sender ~= user then unread = unread + 1 end
  end
  looked = looked + #page
  upper = '(' .. page[#page][1]
end
if unread > most then unread = most end
return {newestEntry(KEYS[1], KEYS[3]) or false, start or '', unread}
