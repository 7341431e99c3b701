-- Move a read position forward (never back, never past the newest message).
-- KEYS: peer's user hash or groups set, group members (or dummy),
--       conversation stream, user's read positions, user's pending hash
-- ARGV: 'u' or 'g', peer or group, user, upto
local function before(a, b)
  local ams, aseq = string.match(a, '^(%d+)-(%d+)$')
  local bms, bseq = string.match(b, '^(%d+)-(%d+)$')
  ams, bms = tonumber(ams), tonumber(bms)
  if ams ~= bms then return ams < bms end
  return tonumber(aseq) < tonumber(bseq)
end
if ARGV[1] == 'u' then
  if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('no_such_user') end
else
  if redis.call('SISMEMBER', KEYS[1], ARGV[2]) == 0 then return redis.error_reply('no_such_group') end
  if redis.call('HEXISTS', KEYS[2], ARGV[3]) == 0 then return redis.error_reply('not_member') end
end
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
if not last[1] then return 0 end
last = last[1][1]
local pos = ARGV[4]
if before(last, pos) then pos = last end
local field = ARGV[1] .. ':' .. ARGV[2]
local cur = redis.call('HGET', KEYS[4], field)
if cur and not before(cur, pos) then return 0 end
redis.call('HSET', KEYS[4], field, pos)
if ARGV[1] == 'u' and pos == last then redis.call('HDEL', KEYS[5], ARGV[2]) end
return 1
