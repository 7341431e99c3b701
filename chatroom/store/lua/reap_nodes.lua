-- Forget the connections of nodes whose liveness key expired: they died
-- without saying goodbye.  Safe to run on several nodes at once: a dead
-- node's users are reported by exactly one run.
-- KEYS: nodes set, online zset
-- ARGV: prefix of node keys, prefix of location hashes, prefix of users'
--       group sets, prefix of group member hashes, largest group for presence
-- Returns {dead node count, user, {small group, ...}, user, {...}, ...} for
-- the users now offline everywhere.
local out = {0}
local maxGroup = tonumber(ARGV[5])
for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. node .. ':alive') == 0 then
    out[1] = out[1] + 1
    local usersKey = ARGV[1] .. node .. ':users'
    for _, user in ipairs(redis.call('SMEMBERS', usersKey)) do
      local loc = ARGV[2] .. user
      redis.call('HDEL', loc, node)
      if redis.call('HLEN', loc) == 0 and redis.call('ZREM', KEYS[2], user) == 1 then
        local small = {}
        for _, g in ipairs(redis.call('SMEMBERS', ARGV[3] .. user)) do
          if redis.call('HLEN', ARGV[4] .. g) <= maxGroup then small[#small + 1] = g end
        end
        out[#out + 1] = user
        out[#out + 1] = small
      end
    end
    redis.call('DEL', usersKey)
    redis.call('SREM', KEYS[1], node)
  end
end
return out
