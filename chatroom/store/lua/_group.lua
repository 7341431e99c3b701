-- Shared by the group scripts (prepended after _lib.lua).  Every group
-- script takes the same KEYS, the keys of one group's slot:
local G, M, S, R, O, ROLES, B, F = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local RETRACTED, UNREAD = KEYS[9], KEYS[10]
-- G the group's hash (created, v, seq, owner, visibility, history, title,
-- born), M members (user -> join position), S stream, R read positions,
-- O seniority (user -> join sequence), ROLES (user -> owner/admin), B bans,
-- F where a member's history starts (members who joined under "joined"),
-- RETRACTED its retracted messages, UNREAD the list's unread counts.

local LOBBY = 'lobby'

local function fail(code, message)
  return redis.error_reply(code .. ' ' .. message)
end

-- A group made before 1.1 (no 'v' field) gets, once, its seniority order
-- from the join positions (ties by name).  It gets an owner only if its
-- creator is known and still a member: no release before 1.1 recorded
-- one, so such groups have none (server admins run them).
local function adopt(name)
  if redis.call('HEXISTS', G, 'v') == 1 then return end
  local flat = redis.call('HGETALL', M)
  local list = {}
  for i = 1, #flat, 2 do list[#list + 1] = {flat[i], flat[i + 1]} end
  table.sort(list, function(a, b)
    if a[2] ~= b[2] then return before(a[2], b[2]) end
    return a[1] < b[1]
  end)
  redis.call('DEL', O)
  for i, m in ipairs(list) do redis.call('ZADD', O, i, m[1]) end
  redis.call('HSET', G, 'v', 1, 'seq', #list)
  local creator = redis.call('HGET', G, 'creator')
  if name ~= LOBBY and creator and redis.call('HEXISTS', M, creator) == 1
      and redis.call('HLEN', ROLES) == 0 then
    redis.call('HSET', G, 'owner', creator)
    redis.call('HSET', ROLES, creator, 'owner')
  end
end

-- What a user may do in the group: 4 a server admin, 3 its owner, 2 an
-- admin, 1 a member, 0 not a member.
local function rank(user, serverAdmin)
  if serverAdmin == '1' then return 4 end
  if redis.call('HEXISTS', M, user) == 0 then return 0 end
  local role = redis.call('HGET', ROLES, user)
  if role == 'owner' then return 3 elseif role == 'admin' then return 2 end
  return 1
end

-- The error of a request about a group that does not exist (or a private
-- one the caller is not in, server admins excepted), or nil; adopts a
-- group of an earlier release.
local function unseen(name, user, serverAdmin)
  if redis.call('EXISTS', G) == 0 then return fail('no_such_group', 'no such group') end
  adopt(name)
  if serverAdmin ~= '1' and redis.call('HGET', G, 'visibility') == 'private'
      and redis.call('HEXISTS', M, user) == 0 then
    return fail('not_member', 'you are not a member of that group')
  end
  return nil
end

-- The rank of actor in the group (see rank), after the checks every
-- request of a member starts with; nil and the error reply when the group
-- is unseen (see unseen) or actor is not a member.
local function memberRank(name, actor, serverAdmin)
  local refused = unseen(name, actor, serverAdmin)
  if refused then return nil, refused end
  local r = rank(actor, serverAdmin)
  if r == 0 then return nil, fail('not_member', 'you are not a member of that group') end
  return r
end

-- Make user a member: its missed messages (and, under the "joined" rule,
-- its history) start at the group's newest message.
local function addMember(user)
  local pos = lastId(S) or '0-0'
  redis.call('HSET', M, user, pos)
  redis.call('ZADD', O, redis.call('HINCRBY', G, 'seq', 1), user)
  if redis.call('HGET', G, 'history') == 'joined' then redis.call('HSET', F, user, pos) end
end

-- Remove a member.  Returns {'left', ''}, {'heir', new owner} when the
-- owner went and ownership passed (to the longest-standing admin, else
-- member), or {'deleted', ''} when the group was left empty (and deleted;
-- never the lobby).
local function removeMember(name, user)
  local wasOwner = redis.call('HGET', ROLES, user) == 'owner'
  redis.call('HDEL', M, user)
  redis.call('HDEL', R, user)
  redis.call('HDEL', ROLES, user)
  redis.call('HDEL', F, user)
  redis.call('HDEL', UNREAD, user)
  redis.call('ZREM', O, user)
  if name ~= LOBBY and redis.call('HLEN', M) == 0 then
    redis.call('DEL', G, M, R, O, ROLES, B, F, RETRACTED, UNREAD)
    -- Emptied, not deleted: the stream keeps its last id, so a group made
    -- again under this name never reuses a msg_id.
    redis.call('XTRIM', S, 'MAXLEN', 0)
    return {'deleted', ''}
  end
  if not wasOwner then return {'left', ''} end
  local heir, best = nil, nil
  for _, admin in ipairs(redis.call('HKEYS', ROLES)) do
    local seniority = tonumber(redis.call('ZSCORE', O, admin))
    if seniority and (not best or seniority < best) then heir, best = admin, seniority end
  end
  if not heir then heir = redis.call('ZRANGE', O, 0, 0)[1] end
  redis.call('HSET', ROLES, heir, 'owner')
  redis.call('HSET', G, 'owner', heir)
  return {'heir', heir}
end

-- The current value of a group setting, with the defaults of a group that
-- never set it.
local DEFAULTS = {visibility = 'public', history = 'shared', title = ''}
local function setting(field)
  return redis.call('HGET', G, field) or DEFAULTS[field]
end
