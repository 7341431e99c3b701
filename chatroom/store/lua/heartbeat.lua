-- A node says it is alive, and learns which nodes exist.
-- KEYS: nodes set, node's liveness key
-- ARGV: node, liveness time-to-live in milliseconds
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
return redis.call('SMEMBERS', KEYS[1])
