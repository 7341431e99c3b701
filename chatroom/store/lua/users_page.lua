-- One page of the online users, in name order.
-- KEYS: online zset
-- ARGV: start ('-' or '(' .. cursor), limit, prefix of user hashes
-- Returns {total, {user, display name, ...}, more (0/1)}
local limit = tonumber(ARGV[2])
local names = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], '+', 'LIMIT', 0, limit + 1)
local more = 0
if #names > limit then
  more = 1
  names[#names] = nil
end
local page = {}
for _, user in ipairs(names) do
  page[#page + 1] = user
  page[#page + 1] = redis.call('HGET', ARGV[3] .. user, 'name') or user
end
return {redis.call('ZCARD', KEYS[1]), page, more}
