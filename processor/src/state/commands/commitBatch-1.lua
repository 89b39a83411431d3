--[[
  Applies one batch of one partition atomically: every aggregate delta of the batch and the
  partition's checkpoint (next offset, watermark) in one step, so state and offset can never
  disagree, whatever crashes.

  Input:
    KEYS[1]  the partition's checkpoint hash; every other key shares its hash tag (built from ARGV[1])
    ARGV[1]  key prefix of the partition, e.g. kf:{page-views:1:3}
    ARGV[2]  writer's owner epoch (from claimPartition)
    ARGV[3]  first offset of the batch
    ARGV[4]  next offset after the batch
    ARGV[5]  watermark after the batch
    ARGV[6]  grace in ms: windows with end <= watermark - grace close now
    ARGV[7]  retention in ms: the TTL closed windows get, and how long after its end (in event
             time) a window stays in the partition's index of windows (spec.retention)
    ARGV[8]  records in the batch (for the progress counter)
    ARGV[9]  wall-clock time in ms (updatedAt)
    ARGV[11] records of the batch that were late (counted here so the number survives restarts)
    ARGV[12] records of the batch sent to the dead-letter topic
    ARGV[13] '1' when the pipeline has a sink topic: closed windows are queued in the partition's
             outbox (a transactional outbox), from which the processor publishes them
    ARGV[14] '1' for session windows: closed windows keep their end in the partition's `ends` hash
    ARGV[15] the next offset this owner last saw stored, '-' when it saw none, '' to skip the check:
             any other stored value means Redis lost writes, and the batch is refused (diverged)
    ARGV[16..] absolute hash-field values (field, value, ...) of the windows that carry `a`, in window order
    ARGV[10] JSON payload { w = windows, x = session updates, k = aggregate kinds, sl = slicing,
             z = the window size of tumbling and hopping windows }: w is a list of
             windows and slices, each
               { s = start, e = end, c = (slices only) the starts of the windows the slice is part of, a = how many ARGV[16..] entries are this window's absolute values
                 (then i, f, mn, mx, fi, la are absent), i = {field, n, ...}, f = {field, "x", ...},
                 mn = {field, "x", ...}, mx = {...}, fi = {field, time, "value", ...}, la = {...},
                 h = {field, {member, ...}, ...}, d = {field, {bucket, n, ...}, ...},
                 t = {field, {member, n, ...}, ...}, r = (registrations with window.rollups) the batch's
                 all-groups totals (applyTotals) }
             rk = the aggregates of the per-part top-N index (applyRanks), wg = the key base of the
             window-level group sets (applyWindowGroups), gr = the ranked sums of the window-level index
             (applyGlobalRanks, needs rk and wg), hr/hb = the hopping windows' window-level sets
             (applyHoppingRanks, needs rk), rq = the percentiles of the top-N index, whose bounds
             each window's q = {agg = {group, bound, ...}} carries (applyBoundRanks)
             sl (hopping windows kept per slice) = { z = window size, a = advance, g = slice length }
             x (session windows only) is a list of {group, start, lastEventTime, closesAt, {mergedStart, ...}}:
             each merged session's state for the group moves into the session at `start`.
  Output:
    { 1, closedWindowStart, ... }   applied; the starts of windows this batch closed
    { -1, storedEpoch }             fenced: a newer owner holds the partition
    { -2, storedNextOffset }        already applied: the checkpoint is past this batch
    { -3, storedNextOffset }        diverged: the checkpoint (or the owner epoch) is not where this
                                    owner left it: Redis lost acknowledged writes
]]
local ckpt = KEYS[1]
local prefix = ARGV[1]
local epoch = tonumber(ARGV[2])
local firstOffset = tonumber(ARGV[3])

local stored = redis.call('HMGET', ckpt, 'epoch', 'offset')
local storedEpoch = stored[1] and tonumber(stored[1]) or 0
if storedEpoch > epoch then
  return { -1, storedEpoch }
end
-- An epoch below this owner's own claim can only mean Redis lost the claim (a failover to a replica
-- that lacks it): the partition's state went back in time, like a checkpoint that moved back.
if storedEpoch < epoch then
  return { -3, stored[2] or '' }
end
if stored[2] and tonumber(stored[2]) > firstOffset then
  return { -2, stored[2] }
end
-- The checkpoint must be where this owner left it: if Redis lost acknowledged writes (a failover
-- to a replica that lacks them, a restore from an older copy), the owner's view is wrong and the
-- records in the gap were never applied. Refuse; the owner claims again and replays from Redis.
local expected = ARGV[15]
if expected ~= '' and ((expected == '-' and stored[2]) or (expected ~= '-' and stored[2] ~= expected)) then
  return { -3, stored[2] or '' }
end

local windowsKey = prefix .. ':windows'
local openKey = prefix .. ':open'

-- min/max fields keep the lower (or higher) value: {field, "x", ...}.
local function keepExtremes(hash, list, lower)
  for i = 1, #list, 2 do
    local current = redis.call('HGET', hash, list[i])
    local x = tonumber(list[i + 1])
    if not current or (lower and x < tonumber(current)) or (not lower and x > tonumber(current)) then
      redis.call('HSET', hash, list[i], list[i + 1])
    end
  end
end

-- first/last keep the value with the earliest/latest event time ({field, time, "value", ...}); its
-- time sits in "<agg>#t|<group>", and a tie keeps the first arrival for first, the last for last.
local function keepTimed(hash, list, first)
  for i = 1, #list, 3 do
    local field = list[i]
    local timeField = kf_time_field(field)
    local current = redis.call('HGET', hash, timeField)
    local t = tonumber(list[i + 1])
    if not current or (first and t < tonumber(current)) or (not first and t >= tonumber(current)) then
      redis.call('HSET', hash, field, list[i + 2], timeField, list[i + 1])
    end
  end
end

-- The hash-field deltas of a window (or of its totals): counts, sums, min/max, first/last.
local function applyFields(hash, x)
  local inc = x.i
  for i = 1, #inc, 2 do redis.call('HINCRBY', hash, inc[i], inc[i + 1]) end
  local sums = x.f
  for i = 1, #sums, 2 do redis.call('HINCRBYFLOAT', hash, sums[i], sums[i + 1]) end
  keepExtremes(hash, x.mn, true)
  keepExtremes(hash, x.mx, false)
  keepTimed(hash, x.fi, true)
  keepTimed(hash, x.la, false)
end

-- DDSketch buckets (`dd`, a hash) or topK members (`top`, a sorted set) add their counts:
-- list = {field, {bucket|member, n, ...}, ...} into the keys `<hash>:<head><sketch>:<field>`.
local function addCounts(hash, head, sketch, list, suffixes)
  for i = 1, #list, 2 do
    local suffix = head .. sketch .. ':' .. list[i]
    suffixes[#suffixes + 1] = suffix
    local key = hash .. ':' .. suffix
    local counts = list[i + 1]
    for j = 1, #counts, 2 do
      if sketch == 'dd' then
        redis.call('HINCRBY', key, counts[j], counts[j + 1])
      else
        redis.call('ZINCRBY', key, counts[j + 1], counts[j])
      end
    end
  end
end

-- Write-side rollups (state/rollup-totals.ts): a batch's all-groups totals of one window or slice,
-- added to `<hash>:tot` and the merged sketches beside it; their suffixes go to `<hash>:tot:keys`
-- (not the sketch set, which readers scan for groups) so they expire with the window.
-- Owner-kept sketches (state/owned-totals.ts) are absolute values in ARGV from `at`: per `list` entry
-- {agg, n}, n arguments for one variadic `command` (chunked) on `<hash>:tot:<sketch>:<agg>`.
local function setTotals(hash, sketch, command, list, at, suffixes)
  for i = 1, #list, 2 do
    local suffix = 'tot:' .. sketch .. ':' .. list[i]
    suffixes[#suffixes + 1] = suffix
    local last = at + list[i + 1] - 1
    for j = at, last, 2000 do
      redis.call(command, hash .. ':' .. suffix, unpack(ARGV, j, math.min(j + 1999, last)))
    end
    at = last + 1
  end
  return at
end

local function applyTotals(hash, r, at)
  local tot = hash .. ':tot'
  local suffixes = { 'tot' }
  applyFields(tot, r)
  local hll = r.h
  for i = 1, #hll, 2 do
    suffixes[#suffixes + 1] = 'tot:hll:' .. hll[i]
    kf_chunked('PFADD', tot .. ':hll:' .. hll[i], hll[i + 1], 1)
  end
  addCounts(hash, 'tot:', 'dd', r.d, suffixes)
  addCounts(hash, 'tot:', 'top', r.t, suffixes)
  if r.n then
    -- A HyperLogLog comes whole while it is sparse; once dense, as the registers the batch raised
    -- (r.M), merged in (the larger value per register): the AOF logs those few bytes, not 12 KB
    -- per commit. The scratch key shares the hash tag and expires if an error leaves it behind.
    local merged = {}
    for _, agg in ipairs(r.M or {}) do merged[agg] = true end
    for _, agg in ipairs(r.H) do
      local key = tot .. ':hll:' .. agg
      suffixes[#suffixes + 1] = 'tot:hll:' .. agg
      if merged[agg] then
        redis.call('SET', key .. ':raised', ARGV[at], 'PX', 60000)
        redis.call('PFMERGE', key, key .. ':raised')
        redis.call('DEL', key .. ':raised')
      else
        redis.call('SET', key, ARGV[at], 'KEEPTTL')
      end
      at = at + 1
    end
    at = setTotals(hash, 'dd', 'HSET', r.D, at, suffixes)
    setTotals(hash, 'top', 'ZADD', r.T, at, suffixes)
  end
  -- the group set is also the mark that this partial's totals are complete (see the loop below)
  suffixes[#suffixes + 1] = 'tot:g'
  kf_chunked('SADD', tot .. ':g', r.g, 1)
  redis.call('SADD', tot .. ':keys', unpack(suffixes))
end

-- The top-N index (query/top-index.ts): per ranked aggregate a sorted set `<hash>:tot:rk:<agg>` of
-- group -> minus the value the hash holds now, for the batch's groups (ascending scores list the
-- largest values first, ties in group order). Absolute values written in the fenced step, as the
-- hash itself: replaying a batch writes the same scores. Negated as text, so scores stay exact.
-- Hopping windows (one Redis node; payload.hr = { {agg, 'add'|'sum'|'max'|'min'}, ... } for the
-- ranked counts, sums, max and min, payload.hb the key base; query/global-top.ts): a window-level
-- sorted set per window and aggregate, `<hb>:rh:<start>:<agg>`, across partitions and slices. Each
-- batch carries the change of a slice's (or the window hash's) value into every window it is part
-- of: a count's or sum's difference (integers add exactly in any order), a max's or min's new value
-- (kept if larger or smaller). `changes` = {group, old value or nil, new value, ...} of one aggregate.
-- A sum's differences add exactly while every value is a whole number of at most 2^46 (then any
-- order of additions over up to 128 parts stays below 2^53, as the scan's merge does). Otherwise
-- each addition may round: the script adds a bound of its error to the window's `<hb>:re:<start>`
-- (field `<agg>`), and keeps there the largest magnitude it has seen (`<agg>|a`), from which the
-- reader bounds the scan's own rounding; `top` then reads past the k-th entry by that slack
-- (query/global-top.ts), so the set is exact enough to rank while every answer is the scan's value.
local EXACT_SUM = 2 ^ 46
-- Two roundings of at most half an ulp each, bounded generously: 2^-52 per operand magnitude.
local ROUNDING = 2 ^ -52
local function wholeNumber(x)
  return x == math.floor(x) and x <= EXACT_SUM and x >= -EXACT_SUM
end

local function applyHoppingRanks(hash, starts, mode, agg, changes, base)
  for _, s in ipairs(starts) do
    local key = base .. ':rh:' .. s .. ':' .. agg
    local rounding = 0
    local largest = 0
    for i = 1, #changes, 3000 do
      local last = math.min(i + 2999, #changes)
      local members = {}
      for j = i, last, 3 do members[#members + 1] = changes[j] end
      local current = redis.call('ZMSCORE', key, unpack(members))
      local args = {}
      for j = i, last, 3 do
        local c = current[(j - i) / 3 + 1]
        local now = c and -tonumber(c) or nil
        local value
        if mode == 'add' then
          value = (now or 0) + changes[j + 2] - (changes[j + 1] or 0)
        elseif mode == 'sum' then
          local before, old, new = now or 0, changes[j + 1] or 0, changes[j + 2]
          local partial = before + new
          value = partial - old
          local size = math.abs(before) + math.abs(new) + math.abs(old) + math.abs(partial) + math.abs(value)
          if not (wholeNumber(before) and wholeNumber(new) and wholeNumber(old) and wholeNumber(value)) then
            rounding = rounding + ROUNDING * size
          end
          if size > largest then largest = size end
        elseif now == nil or (mode == 'max' and changes[j + 2] > now) or (mode == 'min' and changes[j + 2] < now) then
          value = changes[j + 2]
        end
        if value then
          args[#args + 1] = string.format('%.17g', -value)
          args[#args + 1] = changes[j]
        end
      end
      if #args > 0 then redis.call('ZADD', key, unpack(args)) end
    end
    if mode == 'sum' then
      local bounds = base .. ':re:' .. s
      -- rounded up: INCRBYFLOAT's own rounding must not shrink the bound
      if rounding > 0 then redis.call('HINCRBYFLOAT', bounds, agg, string.format('%.17g', rounding * (1 + 2 ^ -20))) end
      local seen = tonumber(redis.call('HGET', bounds, agg .. '|a') or '0')
      if largest > seen then redis.call('HSET', bounds, agg .. '|a', string.format('%.17g', largest)) end
    end
    redis.call('ZADD', base .. ':hw', s, s)
  end
end

-- `hopping` = {starts, base, modes by agg} when the hopping window-level sets are kept from this part.
-- Where a ranked aggregate's new values sit in ARGV: its owner sent one (`<agg>|<group>`, value)
-- pair per group in the order of `groups` from `first` on (payload `b`, OwnedWindows.stagedBlocks),
-- so they need not be read back from the hash just written. The ends are checked; anything else
-- reads the hash.
local function rankedBlock(groups, agg, first)
  if not first or #groups == 0 then return nil end
  local lastField = first + 2 * (#groups - 1)
  if ARGV[first] ~= agg .. '|' .. groups[1] or ARGV[lastField] ~= agg .. '|' .. groups[#groups] then return nil end
  return first
end

local function applyRanks(hash, groups, ranked, hopping, blocks, absoluteFrom)
  local suffixes = {}
  for _, agg in ipairs(ranked) do
    local key = hash .. ':tot:rk:' .. agg
    suffixes[#suffixes + 1] = 'tot:rk:' .. agg
    local mode = hopping and hopping.modes[agg]
    -- sums only where this part kept them from its first batch on (processors before them did not)
    if mode == 'sum' and not hopping.sums then mode = nil end
    local block = blocks and blocks[agg] and rankedBlock(groups, agg, absoluteFrom + blocks[agg])
    local changes = {}
    for i = 1, #groups, 1000 do
      local last = math.min(i + 999, #groups)
      local values
      if block then
        values = {}
        for j = i, last do values[#values + 1] = ARGV[block + 2 * (j - 1) + 1] end
      else
        local fields = {}
        for j = i, last do fields[#fields + 1] = agg .. '|' .. groups[j] end
        values = redis.call('HMGET', hash, unpack(fields))
      end
      local before = mode and redis.call('ZMSCORE', key, unpack(groups, i, last))
      local args = {}
      for j = 1, last - i + 1 do
        local v = values[j]
        if v then
          args[#args + 1] = string.sub(v, 1, 1) == '-' and string.sub(v, 2) or ('-' .. v)
          args[#args + 1] = groups[i + j - 1]
          if mode then
            local b = before[j]
            changes[#changes + 1] = groups[i + j - 1]
            changes[#changes + 1] = b and -tonumber(b) or false
            changes[#changes + 1] = tonumber(v)
          end
        end
      end
      if #args > 0 then redis.call('ZADD', key, unpack(args)) end
    end
    if mode and #changes > 0 then applyHoppingRanks(hash, hopping.starts, mode, agg, changes, hopping.base) end
  end
  if hopping then
    redis.call('SET', hash .. ':tot:hr', '1')
    suffixes[#suffixes + 1] = 'tot:hr'
  end
  if hopping and hopping.sums then
    redis.call('SET', hash .. ':tot:hs', '1')
    suffixes[#suffixes + 1] = 'tot:hs'
  end
  redis.call('SADD', hash .. ':tot:keys', unpack(suffixes))
end

-- The top-N index of ranked percentiles (payload.rq; query/top-index.ts): in the same sorted set
-- `<hash>:tot:rk:<agg>`, group -> minus an upper bound of its value in this part (the part's upper
-- quantile, aggregates/ddsketch.ts), which the owner works out from the packed sketches it keeps and
-- sends for every group whose sketch the batch changed (w.q = {agg = {group, bound, ...}}). The
-- mark `:tot:rq:<agg>` says an aggregate's index was kept from the part's first batch on (each its
-- own: a percentile added to rankBy later starts without one); a batch without bounds (a partial
-- its owner does not pack) removes the marks, so readers scan the part instead.
local function applyBoundRanks(hash, aggs, bounds)
  local suffixes = {}
  for _, agg in ipairs(aggs) do
    suffixes[#suffixes + 1] = 'tot:rq:' .. agg
  end
  if not bounds then
    for _, suffix in ipairs(suffixes) do redis.call('DEL', hash .. ':' .. suffix) end
    return
  end
  for _, agg in ipairs(aggs) do
    local list = bounds[agg]
    suffixes[#suffixes + 1] = 'tot:rk:' .. agg
    redis.call('SET', hash .. ':tot:rq:' .. agg, '1')
    for i = 1, #(list or {}), 2000 do
      local args = {}
      for j = i, math.min(i + 1999, #list), 2 do
        local v = list[j + 1]
        args[#args + 1] = string.sub(v, 1, 1) == '-' and string.sub(v, 2) or ('-' .. v)
        args[#args + 1] = list[j]
      end
      redis.call('ZADD', hash .. ':tot:rk:' .. agg, unpack(args))
    end
  end
  redis.call('SADD', hash .. ':tot:keys', unpack(suffixes))
end

-- Window-level group sets (one Redis node only: payload.wg is the version's key base, e.g.
-- kf:{p:v:~g}, another hash tag, so never on a Cluster; query/group-count.ts): the batch's groups of
-- a window go to `<wg>:g:<start>` (a slice's: applySliceGroups below), in this fenced step, so
-- every group of every applied batch is there once. The part's `:tot:wg` mark says it did
-- so from its first batch on; `<wg>:gw` lists the sets, dropped by event time as the window index.
local function applyWindowGroups(hash, starts, groups, base)
  for _, s in ipairs(starts) do
    kf_chunked('SADD', base .. ':g:' .. s, groups, 1)
    redis.call('ZADD', base .. ':gw', s, s)
  end
  redis.call('SET', hash .. ':tot:wg', '1')
  redis.call('SADD', hash .. ':tot:keys', 'tot:wg')
end

-- A slice's share of the hopping windows' group sets (owner-computed, payload `n`: window start,
-- groups, ...; state/owned-windows.ts stageSliceGroups): only groups new to the slice that no other
-- slice of the window holds, so every group a slice holds is in every set of a window it is part of.
local function applySliceGroups(hash, adds, base)
  for i = 1, #adds, 2 do
    kf_chunked('SADD', base .. ':g:' .. adds[i], adds[i + 1], 1)
    redis.call('ZADD', base .. ':gw', adds[i], adds[i])
  end
  redis.call('SET', hash .. ':tot:wg', '1')
  redis.call('SADD', hash .. ':tot:keys', 'tot:wg')
end

-- Window-level top-N index of ranked sums (one Redis node only, tumbling windows, beside the
-- window-level group sets; payload.gr lists the aggregates; query/global-top.ts): per window and
-- aggregate a sorted set `<wg>:rk:<start>:<agg>` of group -> minus its value over all partitions,
-- recomputed here for the batch's groups from every partition's own index (`<part>:tot:rk:<agg>`)
-- in partition order (`<wg>:rp:<start>` lists the partitions that write it, by numeric id),
-- adding from 0 as readers merge, so a score is the very floating-point sum the scan computes when
-- readers merge in that order. Readers check that order, the parts' `:tot:gr` marks (kept from the
-- part's first batch on) and the watermarks (as for the group sets) before trusting it.
local function applyGlobalRanks(hash, start, groups, aggs, base)
  local listed = base .. ':rp:' .. start
  -- numeric partition ids in number order (as registrations list them), others in byte order
  local id = string.match(prefix, ':(%d+)}$')
  redis.call('ZADD', listed, id and tonumber(id) or -1, prefix)
  local prefixes = redis.call('ZRANGE', listed, 0, -1)
  for _, agg in ipairs(aggs) do
    local key = base .. ':rk:' .. start .. ':' .. agg
    for i = 1, #groups, 1000 do
      local last = math.min(i + 999, #groups)
      local chunk = { unpack(groups, i, last) }
      local sums = {}
      for _, p in ipairs(prefixes) do
        local scores = redis.call('ZMSCORE', p .. ':w:' .. start .. ':tot:rk:' .. agg, unpack(chunk))
        for j = 1, #chunk do
          local s = scores[j]
          if s then sums[j] = (sums[j] or 0) + -tonumber(s) end
        end
      end
      local args = {}
      for j = 1, #chunk do
        if sums[j] then
          args[#args + 1] = string.format('%.17g', -sums[j])
          args[#args + 1] = chunk[j]
        end
      end
      if #args > 0 then redis.call('ZADD', key, unpack(args)) end
    end
  end
  redis.call('SET', hash .. ':tot:gr', '1')
  redis.call('SADD', hash .. ':tot:keys', 'tot:gr')
end

local payload = cjson.decode(ARGV[10])
local hoppingModes = {}
local hoppingSumModes = false
for _, m in ipairs(payload.hr or {}) do
  hoppingModes[m[1]] = m[2]
  if m[2] == 'sum' then hoppingSumModes = true end
end
-- Stream slicing of hopping windows: { z = size, a = advance, g = slice } (nil otherwise).
local slicing = payload.sl
local absoluteAt = 16
for _, w in ipairs(payload.w) do
  local start = w.s
  local hash
  if w.c then
    -- A slice: the window index and the open set list the windows it is part of.
    hash = prefix .. ':sl:' .. start
    for _, covered in ipairs(w.c) do
      redis.call('ZADD', windowsKey, covered, covered)
      redis.call('ZADD', openKey, 'GT', covered + slicing.z, covered)
    end
  else
    hash = prefix .. ':w:' .. start
    redis.call('ZADD', windowsKey, start, start)
    -- GT: session windows sharing a start keep the latest end of any of their groups.
    redis.call('ZADD', openKey, 'GT', w.e, start)
  end

  -- Totals are kept only for a window whose every batch kept them: one with state but no group set
  -- (written before its pipeline had rollups) stays without, and readers scan its groups.
  local totals = w.r and (redis.call('EXISTS', hash .. ':tot:g') == 1 or redis.call('EXISTS', hash, hash .. ':keys') == 0)
  -- Likewise the top-N index (payload.rk: the ranked aggregates): kept from a partial's first batch on.
  local ranks = totals and payload.rk and (redis.call('EXISTS', hash .. ':tot:rk:' .. payload.rk[1]) == 1 or redis.call('EXISTS', hash, hash .. ':keys') == 0)
  -- And the window-level group sets (payload.wg).
  local windowGroups = totals and payload.wg and (redis.call('EXISTS', hash .. ':tot:wg') == 1 or redis.call('EXISTS', hash, hash .. ':keys') == 0)
  -- And the hopping windows' window-level sets (payload.hr).
  local hoppingRanks = ranks and payload.hr and (redis.call('EXISTS', hash .. ':tot:hr') == 1 or redis.call('EXISTS', hash, hash .. ':keys') == 0)
  -- Their ranked sums have a mark of their own: parts written by processors that kept counts, min
  -- and max only carry `tot:hr` without them.
  local hoppingSums = hoppingRanks and hoppingSumModes and (redis.call('EXISTS', hash .. ':tot:hs') == 1 or redis.call('EXISTS', hash, hash .. ':keys') == 0)
  -- And the window-level index of ranked sums (payload.gr), beside the group sets (tumbling windows).
  local globalRanks = ranks and payload.gr and payload.wg and not w.c and (redis.call('EXISTS', hash .. ':tot:gr') == 1 or redis.call('EXISTS', hash, hash .. ':keys') == 0)
  -- And the ranked percentiles' bounds (payload.rq), with marks of their own (the first one's decides).
  local boundRanks = totals and payload.rq and (redis.call('EXISTS', hash .. ':tot:rq:' .. payload.rq[1]) == 1 or redis.call('EXISTS', hash, hash .. ':keys') == 0)

  local absoluteFrom = absoluteAt
  if w.a then
    -- Absolute values from the partition's owner: one variadic HSET per chunk of fields.
    local last = absoluteAt + w.a - 1
    for i = absoluteAt, last, 2000 do
      redis.call('HSET', hash, unpack(ARGV, i, math.min(i + 1999, last)))
    end
    absoluteAt = last + 1
  else
    applyFields(hash, w)
  end

  -- The window's sketch keys are registered with one SADD per window per batch (chunked), not one per key.
  local sketchSuffixes = {}
  local hll = w.h
  for i = 1, #hll, 2 do
    local suffix = 'hll:' .. hll[i]
    sketchSuffixes[#sketchSuffixes + 1] = suffix
    kf_chunked('PFADD', hash .. ':' .. suffix, hll[i + 1], 1)
  end
  addCounts(hash, '', 'dd', w.d, sketchSuffixes)
  addCounts(hash, '', 'top', w.t, sketchSuffixes)
  if totals then applyTotals(hash, w.r, absoluteAt) end
  if w.r and w.r.n then absoluteAt = absoluteAt + w.r.n end
  if ranks then
    local hopping = hoppingRanks and { starts = w.c or { start }, base = payload.hb, modes = hoppingModes, sums = hoppingSums } or nil
    applyRanks(hash, w.r.g, payload.rk, hopping, w.a and w.b, absoluteFrom)
  end
  if windowGroups then
    -- a slice adds only what its owner worked out (or nothing: no `n`, no mark); a window its groups
    if w.c then
      if w.n then applySliceGroups(hash, w.n, payload.wg) end
    else
      applyWindowGroups(hash, { start }, w.r.g, payload.wg)
    end
  end
  if globalRanks then applyGlobalRanks(hash, start, w.r.g, payload.gr, payload.wg) end
  if boundRanks then applyBoundRanks(hash, payload.rq, w.q) end
  if #sketchSuffixes > 0 then kf_chunked('SADD', hash .. ':keys', sketchSuffixes, 1) end
end

-- Session windows: move the state of sessions that merged into the surviving session, per aggregate kind.
local function mergeSession(from, into, group, kinds)
  local src = prefix .. ':w:' .. from
  local dst = prefix .. ':w:' .. into
  for agg, kind in pairs(kinds) do
    local field = agg .. '|' .. group
    if kind == 'count' then
      local v = redis.call('HGET', src, field)
      if v then redis.call('HINCRBY', dst, field, v) end
    elseif kind == 'sum' then
      local v = redis.call('HGET', src, field)
      if v then redis.call('HINCRBYFLOAT', dst, field, v) end
    elseif kind == 'avg' then
      local s = redis.call('HGET', src, agg .. '#s|' .. group)
      local n = redis.call('HGET', src, agg .. '#n|' .. group)
      if s then redis.call('HINCRBYFLOAT', dst, agg .. '#s|' .. group, s) end
      if n then redis.call('HINCRBY', dst, agg .. '#n|' .. group, n) end
      redis.call('HDEL', src, agg .. '#s|' .. group, agg .. '#n|' .. group)
    elseif kind == 'min' or kind == 'max' then
      local v = redis.call('HGET', src, field)
      if v then
        local current = redis.call('HGET', dst, field)
        if not current or (kind == 'min' and tonumber(v) < tonumber(current)) or (kind == 'max' and tonumber(v) > tonumber(current)) then
          redis.call('HSET', dst, field, v)
        end
      end
    elseif kind == 'first' or kind == 'last' then
      local timeField = kf_time_field(field)
      local t = redis.call('HGET', src, timeField)
      if t then
        local current = redis.call('HGET', dst, timeField)
        if not current or (kind == 'first' and tonumber(t) < tonumber(current)) or (kind == 'last' and tonumber(t) >= tonumber(current)) then
          redis.call('HSET', dst, field, redis.call('HGET', src, field), timeField, t)
        end
      end
      redis.call('HDEL', src, timeField)
    else
      local suffix = (kind == 'countDistinct' and 'hll:' or (kind == 'percentile' and 'dd:' or 'top:')) .. field
      local from_key = src .. ':' .. suffix
      local into_key = dst .. ':' .. suffix
      if redis.call('EXISTS', from_key) == 1 then
        redis.call('SADD', dst .. ':keys', suffix)
        if kind == 'countDistinct' then
          redis.call('PFMERGE', into_key, into_key, from_key)
        elseif kind == 'percentile' then
          local buckets = redis.call('HGETALL', from_key)
          for j = 1, #buckets, 2 do redis.call('HINCRBY', into_key, buckets[j], buckets[j + 1]) end
        else
          redis.call('ZUNIONSTORE', into_key, 2, into_key, from_key)
        end
        redis.call('DEL', from_key)
        redis.call('SREM', src .. ':keys', suffix)
      end
    end
    redis.call('HDEL', src, field)
  end
  redis.call('HDEL', src, '@end|' .. group)
  if redis.call('HLEN', src) == 0 then
    redis.call('ZREM', windowsKey, from)
    redis.call('ZREM', openKey, from)
    redis.call('DEL', src .. ':keys')
  end
end

if payload.x then
  local retentionMs = tonumber(ARGV[7])
  for _, u in ipairs(payload.x) do
    local group, start, last, closesAt = u[1], u[2], u[3], u[4]
    local index = prefix .. ':s:' .. group
    for _, from in ipairs(u[5]) do
      mergeSession(from, start, group, payload.k)
      redis.call('ZREM', index, from)
    end
    redis.call('ZADD', index, last, start)
    redis.call('PEXPIRE', index, retentionMs)
    redis.call('HSET', prefix .. ':w:' .. start, '@end|' .. group, last)
    redis.call('ZADD', windowsKey, start, start)
    redis.call('ZADD', openKey, 'GT', closesAt, start)
  end
end

redis.call('HSET', ckpt, 'offset', ARGV[4], 'watermark', ARGV[5], 'updatedAt', ARGV[9])
redis.call('HINCRBY', ckpt, 'records', ARGV[8])
if ARGV[11] ~= '0' then redis.call('HINCRBY', ckpt, 'late', ARGV[11]) end
if ARGV[12] ~= '0' then redis.call('HINCRBY', ckpt, 'deadLettered', ARGV[12]) end

local function expireWithSketches(hash, retention)
  for _, sketchSet in ipairs({ hash .. ':keys', hash .. ':tot:keys' }) do
    for _, suffix in ipairs(redis.call('SMEMBERS', sketchSet)) do
      redis.call('PEXPIRE', hash .. ':' .. suffix, retention)
    end
    redis.call('PEXPIRE', sketchSet, retention)
  end
  redis.call('PEXPIRE', hash, retention)
end

-- Close the windows the watermark has passed (end + grace <= watermark): they can no longer
-- change, so they start their retention countdown.
local result = { 1 }
local watermark = tonumber(ARGV[5])
local retention = tonumber(ARGV[7])
local closing = redis.call('ZRANGEBYSCORE', openKey, '-inf', watermark - tonumber(ARGV[6]), 'WITHSCORES')
for c = 1, #closing, 2 do
  local start = closing[c]
  local hash = prefix .. ':w:' .. start
  -- Session windows end where their last event + gap put them; readers find that here once closed.
  if ARGV[14] == '1' then
    redis.call('HSET', prefix .. ':ends', start, closing[c + 1])
    redis.call('PEXPIRE', prefix .. ':ends', retention)
  end
  expireWithSketches(hash, retention)
  -- The slices whose last window this is ([start, start + advance)) will not change either.
  if slicing then
    local from = tonumber(start)
    for t = from, from + slicing.a - slicing.g, slicing.g do
      expireWithSketches(prefix .. ':sl:' .. string.format('%d', t), retention)
    end
  end
  redis.call('ZREM', openKey, start)
  if ARGV[13] == '1' then redis.call('RPUSH', prefix .. ':outbox', start) end
  result[#result + 1] = start
end
-- The index forgets windows `retention` after their end in event time: a tumbling or hopping
-- window ends `z` after its start. A session's end is not in its score; one still open is kept
-- whatever its age, a closed one goes `retention` after its start (writers before `z`: every kind).
local horizon = watermark - retention - (payload.z or 0)
if ARGV[14] == '1' then
  for _, s in ipairs(redis.call('ZRANGEBYSCORE', windowsKey, '-inf', '(' .. horizon)) do
    if not redis.call('ZSCORE', openKey, s) then redis.call('ZREM', windowsKey, s) end
  end
else
  redis.call('ZREMRANGEBYSCORE', windowsKey, '-inf', '(' .. horizon)
end
-- And the hopping windows' window-level sets.
if payload.hr then
  local listed = payload.hb .. ':hw'
  for _, s in ipairs(redis.call('ZRANGEBYSCORE', listed, '-inf', '(' .. horizon)) do
    for _, m in ipairs(payload.hr) do redis.call('DEL', payload.hb .. ':rh:' .. s .. ':' .. m[1]) end
    redis.call('DEL', payload.hb .. ':re:' .. s)
    redis.call('ZREM', listed, s)
  end
end
-- So do the window-level group sets (readers trust one only while no partition's watermark is past
-- its start + retention, before any writer may drop it: query/group-count.ts).
if payload.wg then
  local listed = payload.wg .. ':gw'
  for _, s in ipairs(redis.call('ZRANGEBYSCORE', listed, '-inf', '(' .. horizon)) do
    redis.call('DEL', payload.wg .. ':g:' .. s)
    redis.call('DEL', payload.wg .. ':rp:' .. s)
    for _, agg in ipairs(payload.gr or {}) do redis.call('DEL', payload.wg .. ':rk:' .. s .. ':' .. agg) end
    redis.call('ZREM', listed, s)
  end
end
return result
