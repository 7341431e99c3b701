-- Migrating from 0.1: cut a direct message's cid record, 'msg_id|status',
-- to the msg_id, keeping its time to live (repeating it changes nothing).
-- KEYS: the 0.1 cid record
-- Returns 1 if the record exists.
local value = redis.call('GET', KEYS[1])
if not value then return 0 end
local id = string.match(value, '^[^|]*')
if id ~= value then redis.call('SET', KEYS[1], id, 'KEEPTTL') end
return 1
