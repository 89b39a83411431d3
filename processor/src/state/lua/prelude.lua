--[[
  Helpers shared by every Kappaflow script: state/lua.ts puts this file in front of each
  commands/<name>-<numkeys>.lua before Redis loads it, so the scripts call these instead of
  keeping copies.
]]

-- Runs `command key item...` over a long list in chunks: Lua's unpack has a small stack.
local function kf_chunked(command, key, list, width)
  local n = #list
  local step = 1000 * width
  for i = 1, n, step do
    redis.call(command, key, unpack(list, i, math.min(i + step - 1, n)))
  end
end

-- The field holding the event time of a first/last field: "<agg>|<group>" -> "<agg>#t|<group>".
local function kf_time_field(field)
  return (string.gsub(field, '|', '#t|', 1))
end

-- Packed sketches (state/owned-windows.ts): a window or slice hash may hold its HyperLogLogs and
-- DDSketches as fields "<agg>#h|<group>" and "<agg>#d|<group>" instead of (or, for a hash written by
-- owners before and after a pipeline's layout changed, beside) the sketch keys "<hash>:hll:<agg>|<group>".
-- Readers take both. The packed field head of a sketch key suffix head ("hll:users|" -> "users#h|"):
local function kf_packed_head(suffixHead)
  local sketch, name = string.match(suffixHead, '^(%a+):(.*)|$')
  if sketch == 'hll' then return name .. '#h|' end
  if sketch == 'dd' then return name .. '#d|' end
  return nil
end

-- The DDSketch of aggregate `name` for `group` as a flat {bucket, n, ...} list (a bucket may come
-- twice, once per form; readers add counts). Slices and tumbling windows both pack (registrations
-- since tumbling windows did, state/owned-windows.ts), so every hash's packed field is read.
local function kf_dd_flat(hash, name, group)
  local flat = redis.call('HGETALL', hash .. ':dd:' .. name .. '|' .. group)
  local packed = redis.call('HGET', hash, name .. '#d|' .. group)
  if packed then
    for bucket, n in string.gmatch(packed, '([^,]+):(%d+)') do
      flat[#flat + 1] = bucket
      flat[#flat + 1] = n
    end
  end
  return flat
end

local function kf_scan(hash, mode, prefix, each)
  local plen = #prefix
  local pattern = string.gsub(prefix, '[%*%?%[%]\\]', '\\%0') .. '*'
  local cursor = '0'
  repeat
    local reply
    if mode == 'h' then
      reply = redis.call('HSCAN', hash, cursor, 'MATCH', pattern, 'COUNT', 20000)
    else
      reply = redis.call('SSCAN', hash .. ':keys', cursor, 'MATCH', pattern, 'COUNT', 20000)
    end
    cursor = reply[1]
    local items = reply[2]
    local step = (mode == 'h') and 2 or 1
    for i = 1, #items, step do each(string.sub(items[i], plen + 1), items[i + 1]) end
  until cursor == '0'
end

-- Calls each(group, value) for every entry of a window that starts with `prefix`: the hash fields
-- (mode 'h', value = the field's value) or the sketches (mode 's', value nil): members of the
-- window's sketch set, and packed sketch fields. The group key is the rest of the field or member.
local function kf_each_group(hash, mode, prefix, each)
  kf_scan(hash, mode, prefix, each)
  if mode == 's' then
    local packed = kf_packed_head(prefix)
    if packed then
      -- a group with both forms (a slice written before and after a layout change) comes once
      local set = hash .. ':keys'
      local mixed = redis.call('EXISTS', set) == 1
      kf_scan(hash, 'h', packed, function(group)
        if not mixed or redis.call('SISMEMBER', set, prefix .. group) == 0 then each(group, nil) end
      end)
    end
  end
end
