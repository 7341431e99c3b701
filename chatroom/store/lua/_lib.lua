-- Shared by every script (prepended when the scripts are loaded).  Every
-- script touches the keys of one hash slot only, all named in KEYS.

-- Whether stream id a comes before stream id b ("ms-seq", compared as
-- numbers: as strings "9-0" would come after "10-0").
local function before(a, b)
  local ams, aseq = string.match(a, '^(%d+)-(%d+)$')
  local bms, bseq = string.match(b, '^(%d+)-(%d+)$')
  ams, bms = tonumber(ams), tonumber(bms)
  if ams ~= bms then return ams < bms end
  return tonumber(aseq) < tonumber(bseq)
end

-- The id of a stream's newest entry, or nil.
local function lastId(stream)
  local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
  if last[1] then return last[1][1] end
  return nil
end

-- The error of a request about a group that does not exist or that the
-- user is not in, or nil.
local function groupError(groupKey, membersKey, user)
  if redis.call('EXISTS', groupKey) == 0 then return redis.error_reply('no_such_group') end
  if redis.call('HEXISTS', membersKey, user) == 0 then return redis.error_reply('not_member') end
  return nil
end

-- A msg_id as a retracted set orders it: both parts zero-padded to 20
-- digits, so that byte order is id order (members are padded .. '|' ..
-- sender; '[' .. padded(id) .. '}' is a lex bound just past id).
local function padded(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return string.rep('0', 20 - #ms) .. ms .. '-' .. string.rep('0', 20 - #seq) .. seq
end

-- The retracted messages of a conversation whose ids lie between two lex
-- bounds, as stream entries {id, {'f', sender, 'r', '1'}}, newest first if
-- newestFirst; at most limit of them if given.
local function tombstones(key, low, high, newestFirst, limit)
  local command, first, second = 'ZRANGEBYLEX', low, high
  if newestFirst then command, first, second = 'ZREVRANGEBYLEX', high, low end
  local found
  if limit then
    found = redis.call(command, key, first, second, 'LIMIT', 0, limit)
  else
    found = redis.call(command, key, first, second)
  end
  local entries = {}
  for i, member in ipairs(found) do
    local ms, seq, sender = string.match(member, '^0*(%d+)-0*(%d+)|(.*)$')
    entries[i] = {ms .. '-' .. seq, {'f', sender, 'r', '1'}}
  end
  return entries
end

-- Two lists of entries in the same order (newest first if newestFirst)
-- merged, at most count of them.
local function merged(a, b, count, newestFirst)
  local out, i, j = {}, 1, 1
  while #out < count and (a[i] or b[j]) do
    local takeA
    if not b[j] then takeA = true
    elseif not a[i] then takeA = false
    elseif newestFirst then takeA = before(b[j][1], a[i][1])
    else takeA = before(a[i][1], b[j][1]) end
    if takeA then out[#out + 1] = a[i]; i = i + 1 else out[#out + 1] = b[j]; j = j + 1 end
  end
  return out
end

-- The newest entry of a conversation, retracted messages included, or nil.
local function newestEntry(stream, retracted)
  local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
  return merged(last and {last} or {}, tombstones(retracted, '-', '+', true, 1), 1, true)[1]
end
