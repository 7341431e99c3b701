-- Give back a name key claimed for a name that was not created after all.
-- KEYS: the claim
-- ARGV: name
-- Returns 1 if it was released.
local name = ARGV[1]
local current = redis.call('GET', KEYS[1])
if current and string.match(current, '^(.*)|') == name then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
