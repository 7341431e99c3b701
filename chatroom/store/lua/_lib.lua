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

