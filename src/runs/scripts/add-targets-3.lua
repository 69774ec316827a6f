--[[
  Stores a chunk of targets once each: a duplicate row is one target, counted once.
  KEYS[1] targets hash   KEYS[2] order list   KEYS[3] counts hash
  ARGV    triples: targetKey, record (JSON), status ("pending", or "invalid" for a rejected row)
  Returns how many were new.
]]
local added = 0
for i = 1, #ARGV, 3 do
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('RPUSH', KEYS[2], ARGV[i])
    redis.call('HINCRBY', KEYS[3], ARGV[i + 2], 1)
    added = added + 1
  end
end
if added > 0 then redis.call('HINCRBY', KEYS[3], 'total', added) end
return added
