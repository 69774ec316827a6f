--[[
  Returns request slots and teaches the budget what the responses said: the slots of
  one bucket's requests that a worker finished in the same turn of its event loop.
  KEYS[1] in-flight zset   KEYS[2] bucket hash   KEYS[3] org hash
  ARGV[1] bucket limit from X-Rate-Limit-Limit, or ""
  ARGV[2] pause this bucket for ms (a 429, or Remaining nearly gone), 0 for none
  ARGV[3] pause the whole org for ms (a concurrency 429), 0 for none
  ARGV[4] the bucket's window ends in ms (X-Rate-Limit-Reset), 0 unknown
  ARGV[5] window length, ms
  ARGV[6] a 429 came while the bucket had room (a cap on this credential): the fraction of the
          bucket used then, or ""   ARGV[7] how long a learned cap holds, ms
  ARGV[8] the credential (OktaAuth.principal)
  ARGV[9] requests the window of ARGV[4] had counted (X-Rate-Limit-Limit − Remaining), or ""
  ARGV[10..] lease ids
  Returns 1, or the cap (a string) when this call set one.
]]
if #ARGV >= 10 then redis.call('ZREM', KEYS[1], unpack(ARGV, 10)) end
local b = redis.call('HMGET', KEYS[2], 'limit', 'wEnd', 'wLive', 'wUsedEnd')
if ARGV[1] ~= '' and b[1] ~= ARGV[1] then
  redis.call('HSET', KEYS[2], 'limit', ARGV[1])
end
local pb, po, we = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
-- Only a bucket that pacing `window` uses has a window end to correct (acquire-4.lua
-- estimates one when it starts a window); Okta's Reset corrects it, earlier or later.
local wEnd = we > 0 and tonumber(b[2] or '0') or 0
local capUsed = tonumber(ARGV[6]) or 0
local learned = nil
if pb > 0 or po > 0 or wEnd > 0 or capUsed > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if pb > 0 and now + pb > tonumber(redis.call('HGET', KEYS[2], 'pausedUntil') or '0') then
    redis.call('HSET', KEYS[2], 'pausedUntil', now + pb)
  end
  if po > 0 and now + po > tonumber(redis.call('HGET', KEYS[3], 'pausedUntil') or '0') then
    redis.call('HSET', KEYS[3], 'pausedUntil', now + po)
  end
  -- A late answer from an older window (its end more than half a window before the
  -- current one's) says nothing about the current one.
  local e = now + we
  local window = tonumber(ARGV[5])
  -- An answer from the next window: a request granted in the counted window's last moments
  -- (Reset and Date are whole seconds, so the counted end can be up to 2 s late) reached Okta
  -- after its window ended, and opened the next one.
  local later = wEnd > 0 and e > wEnd + window / 2
  local fields = {}
  local endNow = wEnd
  if later or (wEnd > 0 and e > wEnd - window / 2 and math.abs(e - wEnd) > 100) then
    fields = { 'wEnd', e }
    endNow = e
    -- The window's count goes with its end, while window pacing keeps it for this window.
    if not later and b[3] and math.abs(tonumber(b[4] or '0') - wEnd) <= window / 2 then
      fields[#fields + 1] = 'wUsedEnd'
      fields[#fields + 1] = e
    end
  end
  -- While window pacing counts the bucket's windows (`wLive`), the count can be no more than
  -- the most Okta has said it counted in the window (`wOkta`: the neighbours' requests too;
  -- the most, since an answer can overtake one Okta counted before it) plus what is in flight:
  -- none of the run's requests can be anywhere else. That corrects a count carried into a
  -- window that began early (the next window's answer above: the run would otherwise wait a
  -- whole window with the bucket nearly unused), and a count guessed from what even pacing sent
  -- before (a switch by `pace`, or a run after an even-paced one). Under even pacing the count
  -- is what a window paced earlier left, and Okta's count would hold the even clock back.
  local counted = tonumber(ARGV[9])
  if counted and b[3] and (later or (wEnd > 0 and math.abs(e - wEnd) <= window / 2)) then
    local w = redis.call('HMGET', KEYS[2], 'wUsed', 'wRuns', 'wSeq', 'wOkta')
    local okta = later and counted or math.max(counted, tonumber(w[4] or '0'))
    if later or okta > tonumber(w[4] or '0') then
      fields[#fields + 1] = 'wOkta'
      fields[#fields + 1] = okta
    end
    local used0 = tonumber(w[1] or '0')
    local used = math.min(used0, okta + redis.call('ZCARD', KEYS[1]))
    if later or used < used0 then
      fields[#fields + 1] = 'wUsed'
      fields[#fields + 1] = used
      fields[#fields + 1] = 'wUsedEnd'
      fields[#fields + 1] = endNow
      if w[2] then
        local runs, seq = cjson.decode(w[2]), tonumber(w[3] or '0')
        for _, r in pairs(runs) do
          if r[3] == seq and r[1] > used then r[1] = used end
        end
        fields[#fields + 1] = 'wRuns'
        fields[#fields + 1] = cjson.encode(runs)
      end
    end
  end
  if #fields > 0 then redis.call('HSET', KEYS[2], unpack(fields)) end
  -- The credential's cap (`pcap:<credential>`, a fraction of the bucket's limit, which acquire-4.lua holds
  -- every run under until `pcapUntil`): nine tenths of the least of the share in use, the fraction
  -- of the bucket used when the 429 came (other clients' requests count in it too), and, for a
  -- share above it, Okta's default cap of one half. A 429 again lowers it by a tenth at least. Once per half window:
  -- the 429s of one burst teach it once.
  if capUsed > 0 then
    local cred = ARGV[8]
    local c = redis.call('HMGET', KEYS[2], 'pcap:' .. cred, 'pcapAt:' .. cred, 'pcapUntil:' .. cred, 'smax', 'pshare:' .. cred, 'pshareUntil:' .. cred)
    if now - tonumber(c[2] or '0') > tonumber(ARGV[5]) / 2 then
      local cur = (c[1] and now < tonumber(c[3] or '0')) and tonumber(c[1]) or tonumber(c[4] or '1')
      -- Under a share read from the app's principal rate limit (see acquire-4.lua), below it;
      -- that share, not Okta's default half, is then the app's.
      local read = (c[5] and now < tonumber(c[6] or '0')) and tonumber(c[5]) or nil
      if read then cur = math.min(cur, read) end
      local cap = math.min(cur, capUsed)
      if cur > 0.5 and not read then cap = math.min(cap, 0.5) end
      learned = string.format('%.17g', math.max(0.01, cap * 0.9))
      redis.call('HSET', KEYS[2], 'pcap:' .. cred, learned, 'pcapAt:' .. cred, now, 'pcapUntil:' .. cred, now + tonumber(ARGV[7]))
    end
  end
end
return learned or 1
