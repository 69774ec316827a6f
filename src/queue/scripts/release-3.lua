--[[
  Returns request slots and teaches the budget what the responses said: the slots of
  one bucket's requests that a worker finished in the same turn of its event loop.
  KEYS[1] in-flight zset   KEYS[2] bucket hash   KEYS[3] org hash
  ARGV[1] bucket limit from X-Rate-Limit-Limit, or ""
  ARGV[2] pause this bucket for ms (a 429, or Remaining nearly gone), 0 for none
  ARGV[3] pause the whole org for ms (a concurrency 429), 0 for none
  ARGV[4] the bucket's window ends in ms (X-Rate-Limit-Reset, padded), 0 unknown
  ARGV[5..] lease ids
]]
if #ARGV >= 5 then redis.call('ZREM', KEYS[1], unpack(ARGV, 5)) end
if ARGV[1] ~= '' and redis.call('HGET', KEYS[2], 'limit') ~= ARGV[1] then
  redis.call('HSET', KEYS[2], 'limit', ARGV[1])
end
local pb, po, we = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if pb > 0 or po > 0 or we > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if pb > 0 and now + pb > tonumber(redis.call('HGET', KEYS[2], 'pausedUntil') or '0') then
    redis.call('HSET', KEYS[2], 'pausedUntil', now + pb)
  end
  if po > 0 and now + po > tonumber(redis.call('HGET', KEYS[3], 'pausedUntil') or '0') then
    redis.call('HSET', KEYS[3], 'pausedUntil', now + po)
  end
  -- Pacing `window` only ever moves the window's end later: a window taken as longer
  -- than it is costs time, one taken as shorter would cost 429s.
  if we > 0 then
    local wEnd = tonumber(redis.call('HGET', KEYS[2], 'wEnd') or '0')
    if wEnd > 0 and now + we > wEnd + 100 then redis.call('HSET', KEYS[2], 'wEnd', now + we) end
  end
end
return 1
