-- A user's blocks, and the peers whose marker may lag behind them.
-- KEYS: user's blocks, user's pending markers
-- Returns {{peer, ...}, {peer, ...}}.
return {redis.call('SMEMBERS', KEYS[1]), redis.call('SMEMBERS', KEYS[2])}
