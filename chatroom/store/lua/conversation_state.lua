-- One entry of a user's conversation list: the newest message, the read
-- position and the number of messages from others after it.  Counted
-- here, so that no message body leaves Redis but the newest; and counted
-- once: the count is kept with the position, the newest msg_id counted and
-- the stream's entries-added then, so that the next call only counts the
-- messages that came since (an ack, which moves the position, or a
-- retraction, which deletes what was kept, starts it again).
-- In a conversation the user never wrote in (ARGV[4] is '0': the peer is
-- not in the user's {u:..}:wrote), every live entry after the position is
-- unread, so nothing is read entry by entry: all of the stream when the
-- position lies before its first entry, else the kept count plus the
-- entries added since (XINFO STREAM's entries-added; retractions, the only
-- XDEL after the position, delete what was kept).  Otherwise, or when
-- nothing is kept, the entries after the position are read newest first.
-- KEYS: conversation stream, read positions, retracted set, unread counts,
--       and for a group: group hash, group members
-- ARGV: user, the most unread messages counted, the most entries looked
--       at, whether the user may have written here (1/0)
-- Returns '-' when the user is not a member of the group (a stale index
-- entry), else {newest entry or false, read position (for a group, its
-- joining until it acks) or '', unread}.
local user, most, budget = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local mine = ARGV[4] ~= '0'
local start = redis.call('HGET', KEYS[2], user)
if KEYS[5] then
  local joined = redis.call('HGET', KEYS[6], user)
  if redis.call('EXISTS', KEYS[5]) == 0 or not joined then return '-' end
  start = start or joined
end
start = start or '0-0'
local unread, lower, keptAdded = 0, '(' .. start, nil
local kept = redis.call('HGET', KEYS[4], user)
if kept then
  local keptStart, counted, count, added = string.match(kept, '^([^|]*)|([^|]*)|(%d+)|?(%d*)$')
  if keptStart == start then
    unread, lower = tonumber(count), '(' .. counted
    if added ~= '' then keptAdded = tonumber(added) end
  end
end
local added = nil
if not mine then
  -- An error reply (no stream yet) is an empty conversation.
  local info = redis.pcall('XINFO', 'STREAM', KEYS[1])
  local stream = {}
  if not info.err then
    for i = 1, #info, 2 do stream[info[i]] = info[i + 1] end
  end
  added = stream['entries-added']
  local first, last = stream['first-entry'], stream['last-entry']
  local counted = nil
  if not first then
    counted = 0
  elseif before(start, first[1]) then
    counted = stream['length']
  elseif keptAdded then
    counted = unread + added - keptAdded
  end
  if counted then
    if counted > most then counted = most end
    if last then
      local keep = start .. '|' .. last[1] .. '|' .. counted .. '|' .. added
      if keep ~= kept then redis.call('HSET', KEYS[4], user, keep) end
    end
    if start == '0-0' then start = '' end
    -- The newest entry: the stream's last, or a retracted one after it.
    local newest = merged(last and {last} or {}, tombstones(KEYS[3], '-', '+', true, 1), 1, true)[1]
    return {newest or false, start, counted}
  end
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
if newest then
  redis.call('HSET', KEYS[4], user, start .. '|' .. newest .. '|' .. unread .. (added and '|' .. added or ''))
end
if start == '0-0' then start = '' end
return {newestEntry(KEYS[1], KEYS[3]) or false, start, unread}
