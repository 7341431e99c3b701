-- One entry of a user's conversation list: the newest message, the read
-- position and the number of messages from others after it.  Counted
-- here, so that no message body leaves Redis but the newest; and counted
-- once: the count is kept with the position and the newest msg_id counted,
-- so that the next call only looks at the messages that came since (an
-- ack, which moves the position, or a retraction starts it again).
-- KEYS: conversation stream, read positions, retracted set, unread counts,
--       and for a group: group hash, group members
-- ARGV: user, the most unread messages counted, the most entries looked at
-- Returns '-' when the user is not a member of the group (a stale index
-- entry), else {newest entry or false, read position (for a group, its
-- joining until it acks) or '', unread}.
local user, most, budget = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local start = redis.call('HGET', KEYS[2], user)
if KEYS[5] then
  local joined = redis.call('HGET', KEYS[6], user)
  if redis.call('EXISTS', KEYS[5]) == 0 or not joined then return '-' end
  start = start or joined
end
start = start or '0-0'
local unread, lower = 0, '(' .. start
local kept = redis.call('HGET', KEYS[4], user)
if kept then
  local keptStart, counted, count = string.match(kept, '^([^|]*)|([^|]*)|(%d+)$')
  if keptStart == start then unread, lower = tonumber(count), '(' .. counted end
end
-- From the newest back to what was counted before (or the read position),
-- a page at a time, until enough are counted or the budget is spent (a
-- user's own long run of messages after its read position would otherwise
-- be read in full).
local upper, looked, newest = '+', 0, nil
while unread < most and looked < budget do
  local page = redis.call('XREVRANGE', KEYS[1], upper, lower, 'COUNT', 200)
  if not page[1] then break end
  newest = newest or page[1][1]
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
if newest then redis.call('HSET', KEYS[4], user, start .. '|' .. newest .. '|' .. unread) end
if start == '0-0' then start = '' end
return {newestEntry(KEYS[1], KEYS[3]) or false, start, unread}
