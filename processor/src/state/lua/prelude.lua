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

-- Calls each(group, value) for every entry of a window that starts with `prefix`: the hash fields
-- (mode 'h', value = the field's value) or the members of the window's sketch set (mode 's', value
-- nil). The group key is the rest of the field or member.
local function kf_each_group(hash, mode, prefix, each)
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
