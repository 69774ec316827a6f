--[[
  Takes request slots from an org's shared budget, for every process at once: one slot
  per lease id, for the requests of one run to one bucket that a worker asked for in the
  same turn of its event loop.

  Pacing `even` is GCRA (a theoretical arrival time per bucket): slots are spaced
  window / (limit * share) apart, so a run alone never bursts into a 429, and
  the slot is reserved here so that callers in many processes queue up instead of
  polling. Pacing `window` counts the slots given in the bucket's current window
  (its end learned from the responses' X-Rate-Limit-Reset) and gives limit * share
  of them at once, then none until the window ends. The clock is Redis's own (TIME), the one clock every machine shares.
  The in-flight cap is a sorted set of leases that expire: a killed worker's
  slots come back by themselves.

  KEYS[1] bucket hash (limit, tat, pausedUntil, smax, rts, wEnd, wUsed, wUsedEnd, wRuns, wLive, pcap:<credential>, pshare:<credential>…)   KEYS[2] in-flight zset
  KEYS[3] org hash (pausedUntil)                  KEYS[4] stopped runs hash
  ARGV[1] runId or ""  ARGV[2] max in flight  ARGV[3] lease ms
  ARGV[4] share (already with its safety margin)  ARGV[5] window ms
  ARGV[6] furthest a slot may be reserved ahead, ms   ARGV[7] pacing: even | window
  ARGV[8] the credential the requests go with (OktaAuth.principal)   ARGV[9..] lease ids
  Returns per lease id, flat: 1, waitMs granted: send after waitMs; 0, retryMs try
  again later; -1, reason the run is stopped. Once one lease is refused, so are the
  rest, with the same answer.
]]
local FIRST = 9
local cred = ARGV[8]
local n = #ARGV - FIRST + 1
local out = {}
local function all(code, value)
  for _ = #out / 2 + 1, n do
    out[#out + 1] = code
    out[#out + 1] = value
  end
  return out
end

if ARGV[1] ~= '' then
  local reason = redis.call('HGET', KEYS[4], ARGV[1])
  if reason then return all(-1, reason) end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local b = redis.call('HMGET', KEYS[1], 'pausedUntil', 'limit', 'tat', 'wEnd', 'wUsed', 'smax', 'smaxAt', 'rts', 'wRuns', 'wSeq', 'pcap:' .. cred, 'pcapUntil:' .. cred, 'smaxCred', 'pshare:' .. cred, 'pshareUntil:' .. cred, 'wUsedEnd', 'wLive')
local paused = math.max(tonumber(b[1] or '0'), tonumber(redis.call('HGET', KEYS[3], 'pausedUntil') or '0'))
if paused > now then return all(0, paused - now) end

redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local inflight = redis.call('ZCARD', KEYS[2])
local maxInFlight = tonumber(ARGV[2])
local leaseMs = tonumber(ARGV[3])

-- Until a response has told the bucket's limit, one request probes alone: others wait
-- for it (at most a second) instead of being paced on a guess.
if not b[2] then
  local probe = tonumber(redis.call('HGET', KEYS[1], 'probe') or '0')
  if probe > now - 1000 or inflight >= maxInFlight then return all(0, 50) end
  redis.call('HSET', KEYS[1], 'probe', now)
  -- The probe is the window's first request: pacing `window` counts it.
  if ARGV[7] == 'window' then
    redis.call('HSET', KEYS[1], 'wEnd', now + tonumber(ARGV[5]), 'wUsed', 1, 'wUsedEnd', now + tonumber(ARGV[5]), 'wLive', 1, 'wOkta', 0)
    -- And its run's own count (its share of the window is not known yet).
    if ARGV[1] ~= '' then
      local runs = b[9] and cjson.decode(b[9]) or {}
      runs[ARGV[1]] = { 1, 0, tonumber(b[10] or '0') }
      redis.call('HSET', KEYS[1], 'wRuns', cjson.encode(runs))
    end
  end
  redis.call('ZADD', KEYS[2], now + leaseMs, ARGV[FIRST])
  out[1] = 1
  out[2] = 0
  return all(0, 50)
end

local share = tonumber(ARGV[4])
-- A cap Okta holds this credential to: learned from a 429 that came while the bucket had room
-- (`pcap`, release-3.lua), or read from the app's principal rate limit (`pshare`,
-- SharedBudget.setCredentialShare). Every run with it keeps under the lower of those that hold;
-- a learned cap that expires leaves the read one. Another credential's requests keep their own
-- share: the cap is the token's, not the bucket's.
local pcap = tonumber(b[11] or '')
if not (pcap and now < tonumber(b[12] or '0')) then pcap = nil end
local pshare = tonumber(b[14] or '')
if pshare and now < tonumber(b[15] or '0') and not (pcap and pcap <= pshare) then pcap = pshare end
if pcap and share > pcap then share = pcap end
local perWindow = math.floor(tonumber(b[2]) * share)
if perWindow < 1 then perWindow = 1 end

-- Runs with different shares: the bucket goes at the largest share that asked in the
-- last SMAX_TTL ms, so that together they use that share, not less (one clock paced at
-- each request's own share would give the harmonic mean; one window count checked
-- against each request's own share lets the larger run take the smaller one's part);
-- a run below it also keeps to its own share, on a clock or a count of its own.
local SMAX_TTL = 5000
local smax, smaxAt = tonumber(b[6] or '0'), tonumber(b[7] or '0')
local smaxCred = b[13] or ''
local smax0, smaxAt0, smaxCred0 = smax, smaxAt, smaxCred
-- Every run of the credential is under its cap: a larger share of its own from before the cap
-- was learned would put a capped run on a clock of its own beside the bucket's, and both would
-- send. A larger share of another credential's stands: this run then goes on a clock of its own.
if pcap and smax > pcap and smaxCred == cred then smax = pcap end
if share > smax or smaxAt < now - SMAX_TTL then
  smax, smaxAt, smaxCred = share, now, cred
elseif share == smax and now - smaxAt > SMAX_TTL / 5 then
  smaxAt = now
end
local perWindowMax = math.max(1, math.floor(tonumber(b[2]) * smax))
local own = share < smax and ARGV[1] ~= ''
local function saveSmax()
  -- %.17g: the share read back is the same double (tostring keeps 14 digits).
  if smax ~= smax0 or smaxAt ~= smaxAt0 or smaxCred ~= smaxCred0 then
    redis.call('HSET', KEYS[1], 'smax', string.format('%.17g', smax), 'smaxAt', smaxAt, 'smaxCred', smaxCred)
  end
end

-- The mode's next slot: its wait in ms, or nil and when to ask again.
local nextSlot, save
if ARGV[7] == 'window' then
  local wEnd, used = tonumber(b[4] or '0'), tonumber(b[5] or '0')
  -- Okta's Reset is in whole seconds, and Okta's clock is not Redis's: from a second
  -- before the stated end to a second after it nothing is sent, so that no request
  -- counted in the old window lands in the new one.
  local PAD = 1000
  local started = false
  local seq = tonumber(b[10] or '0')
  local window = tonumber(ARGV[5])
  -- A count from an older window (`wUsedEnd` half a window or more before `wEnd`, and even pacing
  -- has asked since: `wLive` gone): even pacing moved the end on from Okta's answers without
  -- counting (a run switched back and forth by `pace`, or an even-paced run beside this one).
  -- The window's count starts again.
  local stale = not b[17] and wEnd > 0 and now < wEnd - PAD and tonumber(b[16] or '0') < wEnd - window / 2
  if now >= wEnd + PAD or stale then
    -- What even pacing granted since Okta's window began counts in it (a run switched from even
    -- to window pacing, by `pace`, or an even-paced run beside this one): Okta's window holds
    -- those requests too, and the share must not be spent again on top of them. The window began
    -- after the last one's known end, or at the known end less a window (a second's pad either way).
    local from = math.max(now - window, stale and wEnd - window - PAD or wEnd - PAD)
    -- A new window starts with this request (as Okta's do), until a response states its end.
    if not stale then wEnd = now + window end
    used = 0
    local tat = tonumber(b[3] or '0')
    if tat > from then
      used = math.min(perWindowMax, math.ceil((tat - from) * perWindowMax / window - 1e-6))
      -- A guess, on the safe side: one request still goes, and its answer says what Okta has
      -- counted in the window (release-3.lua holds the count to that), instead of a window lost
      -- to a guess that nothing corrects.
      if used >= perWindowMax then used = perWindowMax - 1 end
    end
    seq = seq + 1
    started = true
  elseif now >= wEnd - PAD then
    return all(0, wEnd + PAD - now)
  end
  -- Each run counts its own slots of each window (`wRuns`: run id -> {used, share of the
  -- window, window number}), and the larger run leaves the smaller ones room for what they
  -- have not used yet: a run seen in this window or the one before is reserved its part, so
  -- that at a window's opening the larger run's callers do not take it first. The largest
  -- run counts too: a run that asked first was the largest until a larger one asked, and
  -- what it sent before then counts against its own share.
  local runs = b[9] and cjson.decode(b[9]) or {}
  local mine, reserve = 0, 0
  local track = ARGV[1] ~= ''
  if track then
    local e = runs[ARGV[1]]
    if e and e[3] == seq then mine = e[1] end
  end
  if not own then
    for id, e in pairs(runs) do
      if id ~= ARGV[1] and e[2] < perWindowMax and e[3] >= seq - 1 then
        reserve = reserve + math.max(0, e[2] - (e[3] == seq and e[1] or 0))
      end
    end
  end
  local used0, mine0 = used, mine
  nextSlot = function()
    if used + reserve >= perWindowMax or mine >= perWindow then return nil, math.min(wEnd - now, 1000) end
    used = used + 1
    mine = mine + 1
    return 0
  end
  save = function()
    -- `wUsedEnd`: the end of the window `wUsed` counts in (a Reset read later may move `wEnd` on to the next one).
    -- `wLive`: window pacing counts this bucket's windows (release-3.lua recounts one from Okta's answers).
    -- `wOkta`: the most Okta has said it counted in the window (release-3.lua), none yet in a new one.
    if started or used ~= used0 then
      local fields = { 'wEnd', wEnd, 'wUsed', used, 'wSeq', seq, 'wUsedEnd', wEnd, 'wLive', 1 }
      if started then
        fields[#fields + 1] = 'wOkta'
        fields[#fields + 1] = 0
      end
      redis.call('HSET', KEYS[1], unpack(fields))
    end
    if (track and mine ~= mine0) or (started and b[9]) then
      if track then runs[ARGV[1]] = { mine, perWindow, seq } end
      local kept, any = {}, false
      for id, e in pairs(runs) do
        if e[3] >= seq - 1 then kept[id], any = e, true end
      end
      if any then redis.call('HSET', KEYS[1], 'wRuns', cjson.encode(kept)) else redis.call('HDEL', KEYS[1], 'wRuns') end
    end
    saveSmax()
  end
else
  local window = tonumber(ARGV[5])
  local interval = window / perWindowMax
  local rts = own and b[8] and cjson.decode(b[8]) or {}
  local runInterval = window / perWindow
  local rtat = own and tonumber(rts[ARGV[1]] or '0') or 0
  -- Slots are reserved at most ARGV[6] ms ahead, and never more than half the in-flight cap
  -- ahead: the reservations of a paced run would otherwise fill the cap, and every caller
  -- left out would poll it every 20 ms (hundreds of calls a second for 5 requests a second).
  -- (A run on its own clock takes the bucket's earliest slot but sends at its own, at most
  -- `ahead` later: up to maxInFlight / 2 of its requests can land in the window after their
  -- slot's. Reserving fewer ahead makes its callers hold their process's slots polling.)
  local ahead = math.min(tonumber(ARGV[6]), (own and runInterval or interval) * math.max(1, math.floor(maxInFlight / 2)))
  local tat = tonumber(b[3] or '0')
  -- What window pacing granted in a window still open counts in it (a run switched from window
  -- to even pacing mid-window, by `pace`, or a window-paced run beside this one): the clock goes
  -- on from where those slots, spaced evenly from the window's start, would have ended.
  local usedEnd, wUsed = tonumber(b[16] or '0'), tonumber(b[5] or '0')
  if usedEnd > now and wUsed > 0 then tat = math.max(tat, usedEnd - window + wUsed * interval) end
  if tat < now then tat = now end
  local tat0, rtat0 = tat, rtat
  nextSlot = function()
    -- The bucket's slot is its earliest; a run below the largest share sends at its own
    -- clock's slot if that is later (never earlier than the bucket's).
    local at = math.max(tat, rtat)
    local wait = at - now
    if wait > ahead then return nil, math.min(wait - ahead, 1000) end
    tat = tat + interval
    if own then rtat = at + runInterval end
    return wait
  end
  save = function()
    if tat ~= tat0 then redis.call('HSET', KEYS[1], 'tat', tostring(tat)) end
    -- Even pacing counts no window: Okta's count of the next one must not become a count of ours.
    if b[17] then redis.call('HDEL', KEYS[1], 'wLive') end
    saveSmax()
    -- A smaller run's clock is kept while it goes, and pruned a window after its last slot:
    -- by the next smaller run that writes, or by the larger run about once a second.
    if (own and rtat ~= rtat0) or (not own and b[8] and smaxAt ~= smaxAt0) then
      if not own then rts = cjson.decode(b[8]) end
      local kept, any = {}, false
      for id, at in pairs(rts) do
        if tonumber(at) > now - window then kept[id], any = at, true end
      end
      if own then kept[ARGV[1]], any = rtat, true end
      if any then redis.call('HSET', KEYS[1], 'rts', cjson.encode(kept)) else redis.call('HDEL', KEYS[1], 'rts') end
    end
  end
end

for i = FIRST, #ARGV do
  if inflight >= maxInFlight then
    all(0, 20)
    break
  end
  local wait, retry = nextSlot()
  if not wait then
    all(0, retry)
    break
  end
  inflight = inflight + 1
  redis.call('ZADD', KEYS[2], now + wait + leaseMs, ARGV[i])
  out[#out + 1] = 1
  out[#out + 1] = math.floor(wait)
end
save()
return out
