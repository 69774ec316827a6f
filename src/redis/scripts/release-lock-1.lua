--[[
  Deletes a lock only if this holder's token still holds it: a lock that expired and was
  taken by another holder stays theirs.
  KEYS[1] the lock
  ARGV[1] the holder's token
  Returns 1 when it was released, 0 when another holder has it (or nobody).
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
