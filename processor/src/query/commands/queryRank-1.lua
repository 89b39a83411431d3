--[[
  One round of the threshold algorithm (query/threshold-top.ts) on one window's (or slice's) top-N
  index of one partition (the sorted set the commit keeps, `<hash>:tot:rk:<agg>`: group -> minus its
  value here, or minus an upper bound of it for a percentile). Read-only.

  Input:
    KEYS[1]  the window or slice hash, kf:{p:v:n}:w:<start>; its index shares its hash tag
    ARGV[1]  the aggregate
    ARGV[2]  first rank to read (0-based), ARGV[3] how many (0: none)
    ARGV[4]  the suffix of the mark that says the index is whole (`tot:rq:<agg>` for percentiles, whose
             index may be empty), '' when the index's existence says it
    ARGV[5..] groups whose scores to read (ZMSCORE)
  Output: { status, {group, score, ...}, {score or nil, ...} }, status 1: indexed; 0: the part has
          no state; -1: it has state but no index (written before its pipeline kept one): scan instead
]]
local hash = KEYS[1]
local key = hash .. ':tot:rk:' .. ARGV[1]
local mark = ARGV[4] == '' and key or (hash .. ':' .. ARGV[4])
if redis.call('EXISTS', mark) == 0 then
  if redis.call('EXISTS', hash, hash .. ':keys') == 0 then return { 0, {}, {} } end
  return { -1, {}, {} }
end
local from = tonumber(ARGV[2])
local count = tonumber(ARGV[3])
local range = {}
if count > 0 then range = redis.call('ZRANGE', key, from, from + count - 1, 'WITHSCORES') end
local scores = {}
for i = 5, #ARGV, 1000 do
  local chunk = redis.call('ZMSCORE', key, unpack(ARGV, i, math.min(i + 999, #ARGV)))
  for j = 1, math.min(1000, #ARGV - i + 1) do scores[#scores + 1] = chunk[j] end
end
return { 1, range, scores }
