--[[
  Read-only. The raw HyperLogLog strings of the given groups of one window of one partition (called
  through the Buffer variant: they are binary).

  Input:
    KEYS[1]  the window hash, kf:{p:v:n}:w:<start>; the sketch keys share its hash tag
    ARGV[1]  JSON list of countDistinct aggregate names
    ARGV[2..] group keys
  Output: group-major, one entry per group and aggregate: the raw string or nil
]]
local hash = KEYS[1]
local names = cjson.decode(ARGV[1])
local out = {}
local n = 0
for a = 2, #ARGV do
  for _, name in ipairs(names) do
    n = n + 1
    out[n] = redis.call('GET', hash .. ':hll:' .. name .. '|' .. ARGV[a]) or false
  end
end
return out
