-- Shared by every script (prepended when the scripts are loaded).

-- Whether stream id a comes before stream id b ("ms-seq", compared as
-- numbers: as strings "9-0" would come after "10-0").
local function before(a, b)
  local ams, aseq = string.match(a, '^(%d+)-(%d+)$')
  local bms, bseq = string.match(b, '^(%d+)-(%d+)$')
  ams, bms = tonumber(ams), tonumber(bms)
  if ams ~= bms then return ams < bms end
  return tonumber(aseq) < tonumber(bseq)
end

-- The error of a request about a conversation ('u' with a peer, 'g' with a
-- group) that does not exist or that the user is not in, or nil.
-- nameKey: the peer's user hash or the groups set; membersKey: the group's
-- member hash (ignored for 'u').
local function conversationError(kind, nameKey, membersKey, name, user)
  if kind == 'u' then
    if redis.call('EXISTS', nameKey) == 0 then return redis.error_reply('no_such_user') end
  else
    if redis.call('SISMEMBER', nameKey, name) == 0 then return redis.error_reply('no_such_group') end
    if redis.call('HEXISTS', membersKey, user) == 0 then return redis.error_reply('not_member') end
  end
  return nil
end

