-- The conversations in which a user may have unread messages from others,
-- without looking at any other conversation: the pending hash names the
-- direct ones, the user's groups the group ones.
-- KEYS: user's pending hash (peer -> stream), user's groups, user's read
--       positions
-- ARGV: prefix of group streams
-- Returns {kind ('u'/'g'), name, read position, ...}
local out = {}
local function consider(kind, name, stream)
  local pos = redis.call('HGET', KEYS[3], kind .. ':' .. name) or '0-0'
  local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
  if last[1] and before(pos, last[1][1]) then
    out[#out + 1] = kind
    out[#out + 1] = name
    out[#out + 1] = pos
  elseif kind == 'u' then
    redis.call('HDEL', KEYS[1], name)
  end
end
local pending = redis.call('HGETALL', KEYS[1])
for i = 1, #pending, 2 do
  consider('u', pending[i], pending[i + 1])
end
for _, g in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  consider('g', g, ARGV[1] .. g)
end
return out
