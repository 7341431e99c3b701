-- Claim a name key for a name (uniqueness of names, one key per lookalike
-- class).  A claim holds 'name|milliseconds'.
-- KEYS: the claim
-- ARGV: name, now (ms), the stale claim to replace ('' for none)
-- Returns 'claimed', 'own' (the name holds it already), or the claim that
-- another name holds.
local name, now, stale = ARGV[1], ARGV[2], ARGV[3]
local current = redis.call('GET', KEYS[1])
if current then
  if string.match(current, '^(.*)|') == name then return 'own' end
  if current ~= stale then return current end
end
redis.call('SET', KEYS[1], name .. '|' .. now)
return 'claimed'
