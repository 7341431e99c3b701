-- One entry of a user's conversation list: the newest message, the read
-- position and the number of messages from others after it, counted here
-- so that no message body leaves Redis but the newest.
--
-- Where the message counts are complete (kept since the conversation's
-- first message), others' messages are the count of all minus the user's,
-- and the unread ones are that minus a snapshot taken at the read position
-- (kept in the unread counts: 'start|#|snapshot'), minus the retracted
-- ones after it: no message is read, but to take the snapshot at a read
-- position that is neither the start nor the newest (the ack takes it
-- there).  Otherwise (a conversation older than the counts) the messages
-- after the position are counted, and kept ('start|newest counted|count')
-- so that the next call only counts what came since.  A retraction starts
-- both again.
-- KEYS: conversation stream, read positions, retracted set, unread counts,
--       message counts, and for a group: group hash, group members
-- ARGV: user, the most unread messages counted, the most entries looked at
-- Returns '-' when the user is not a member of the group (a stale index
-- entry), else {newest entry or false, read position (for a group, its
-- joining until it acks) or '', unread}.
local user, most, budget = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local start = redis.call('HGET', KEYS[2], user)
if KEYS[6] then
  local joined = redis.call('HGET', KEYS[7], user)
  if redis.call('EXISTS', KEYS[6]) == 0 or not joined then return '-' end
  start = start or joined
end
start = start or '0-0'

-- Others' messages after lower (an exclusive bound), newest first, a page
-- at a time, until enough are counted or the budget is spent (a user's
-- own long run of messages after its read position would otherwise be
-- read in full); and the newest id looked at.
local function countAfter(lower, already)
  local unread, upper, looked, newest = already, '+', 0, nil
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
  return unread, newest
end

local kept = redis.call('HGET', KEYS[4], user)
local keptStart, mark, keptCount
if kept then keptStart, mark, keptCount = string.match(kept, '^([^|]*)|([^|]*)|(%d+)$') end
local unread
local counts = redis.call('HMGET', KEYS[5], '*', user, '=')
if counts[3] == '1' then
  local others = tonumber(counts[1]) - tonumber(counts[2] or '0')
  local retracted = 0
  for _, entry in ipairs(tombstones(KEYS[3], '(' .. padded(start) .. '}', '+', false, most)) do
    if entry[2][2] ~= user then retracted = retracted + 1 end
  end
  local snapshot
  if keptStart == start and mark == '#' then
    snapshot = tonumber(keptCount)
  else
    snapshot = 0
    if start ~= '0-0' then snapshot = others - countAfter('(' .. start, 0) - retracted end
    redis.call('HSET', KEYS[4], user, start .. '|#|' .. snapshot)
  end
  unread = others - snapshot - retracted
  if unread < 0 then unread = 0 end
else
  local lower = '(' .. start
  unread = 0
  if keptStart == start and mark ~= '#' then unread, lower = tonumber(keptCount), '(' .. mark end
  local newest
  unread, newest = countAfter(lower, unread)
  if unread > most then unread = most end
  if newest then redis.call('HSET', KEYS[4], user, start .. '|' .. newest .. '|' .. unread) end
end
if unread > most then unread = most end
if start == '0-0' then start = '' end
return {newestEntry(KEYS[1], KEYS[3]) or false, start, unread}
