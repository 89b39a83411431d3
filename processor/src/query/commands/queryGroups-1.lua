--[[
  Read-only. The groups of one window of one partition, found from its group set when it keeps one
  (groups only, see below), else from ONE aggregate's entries (every record folds into every
  aggregate of its group, so any one aggregate lists all the groups), with optionally one value per
  group. Runs inside Redis, so the ~100,000 other fields of the window
  hash never leave it.

  Input:
    KEYS[1]  the window hash, kf:{p:v:n}:w:<start>; the sketch keys share its hash tag
    ARGV[1]  'h': the groups of the hash fields starting with ARGV[2] (e.g. "orders|")
             's': the groups of the sketch set members starting with ARGV[2] (e.g. "hll:users|")
    ARGV[2]  the prefix; the group key is the rest of the field
    ARGV[3]  '' or a JSON list of filters, each a list of texts: a group is kept only when, for
             every filter, it holds one of the texts (a cheap necessary condition; the caller
             checks the exact filter)
    ARGV[4]  ''     groups only: { group, ... }
             'v'    with the hash field's value: { group, value, ... } (mode 'h')
             'k:<s>' with the sketch hash <KEYS[1]>:<s><group> as a flat list: { group, {bucket, n, ...}, ... }
  Output: see ARGV[4]
]]
local hash = KEYS[1]
local mode = ARGV[1]
local prefix = ARGV[2]
local filters = nil
if ARGV[3] ~= '' then filters = cjson.decode(ARGV[3]) end
local extra = ARGV[4]

local function keep(group)
  if not filters then return true end
  for _, texts in ipairs(filters) do
    local hit = false
    for _, text in ipairs(texts) do
      if string.find(group, text, 1, true) then
        hit = true
        break
      end
    end
    if not hit then return false end
  end
  return true
end

-- Groups only: a window part whose write-side totals are kept has the set of its groups, complete
-- from its first batch on (`<hash>:tot:g`, commitBatch-1.lua). Reading it costs a few ms where
-- scanning the hash for one aggregate's fields walks every field of every group (~50 ms for 10,000
-- groups of 14 fields), most of a page's Redis time.
local sketchPrefix = nil
-- a DDSketch is read from its key and its packed field (prelude.lua) together
local ddName = nil
if string.sub(extra, 1, 2) == 'k:' then
  sketchPrefix = hash .. ':' .. string.sub(extra, 3)
  ddName = string.match(extra, '^k:dd:(.*)|$')
end

if extra == '' and redis.call('EXISTS', hash .. ':tot:g') == 1 then
  if not filters then return redis.call('SMEMBERS', hash .. ':tot:g') end
  local out = {}
  for _, group in ipairs(redis.call('SMEMBERS', hash .. ':tot:g')) do
    if keep(group) then out[#out + 1] = group end
  end
  return out
end

-- DDSketches of every group (top by a percentile): from the group set too, each group's sketch read
-- directly, instead of scanning the hash (or the sketch index) by pattern and asking per group
-- which form it has: ~3x less Redis CPU on 10,000 groups. A group with no sketch (no numeric value
-- yet) is left out, as the scan leaves it out.
if ddName and redis.call('EXISTS', hash .. ':tot:g') == 1 then
  local out = {}
  local n = 0
  for _, group in ipairs(redis.call('SMEMBERS', hash .. ':tot:g')) do
    if keep(group) then
      local flat = kf_dd_flat(hash, ddName, group)
      if #flat > 0 then
        out[n + 1] = group
        out[n + 2] = flat
        n = n + 2
      end
    end
  end
  return out
end

local out = {}
local n = 0
kf_each_group(hash, mode, prefix, function(group, value)
  if keep(group) then
    n = n + 1
    out[n] = group
    if extra == 'v' then
      n = n + 1
      out[n] = value
    elseif ddName then
      n = n + 1
      out[n] = kf_dd_flat(hash, ddName, group)
    elseif sketchPrefix then
      n = n + 1
      out[n] = redis.call('HGETALL', sketchPrefix .. group)
    end
  end
end)
return out
