--[[
  Which version of a pipeline the query API serves (Kappa reprocessing). A new version starts from
  the beginning of the log into its own keys while the active one keeps serving; it takes over in
  one step once it has caught up.

  Input:
    KEYS[1]  kf:pipelines (hash: pipeline -> JSON registration of the active version;
             "<pipeline>@pending" -> the registration of a newer version still catching up)
    ARGV[1]  pipeline name
    ARGV[2]  this version
    ARGV[3]  this version's registration (JSON, its activeVersion = ARGV[2])
    ARGV[4]  'offer'   a replica of this version starts: it becomes active when nothing else is
                       (no pipeline yet, or it is the active version already), else it waits
             'promote' this version has caught up: it replaces an older active version, unless the
                       operator's gate ("<pipeline>@gate": {"version": n, "allow": bool}) exists and
                       does not name this version with allow = true (manual promotion not approved,
                       a failing replay, an aborted or replaced version, no replay at all)
  Output:
    { 1, previous }   this version is active now (previous: the version it replaced, or 0)
    { 0, active }     a newer version than the active one: registered as pending, keep catching up
    { -1, active }    an older version than the active one: superseded, nothing to do
]]
local name = ARGV[1]
local version = tonumber(ARGV[2])
local current = redis.call('HGET', KEYS[1], name)
local active = nil
if current then active = tonumber(cjson.decode(current).activeVersion) end

local function clearPending()
  local pending = redis.call('HGET', KEYS[1], name .. '@pending')
  if pending and tonumber(cjson.decode(pending).activeVersion) <= version then
    redis.call('HDEL', KEYS[1], name .. '@pending')
  end
end

-- With a gate (the operator manages the pipeline) only the version it names, when it allows it, may
-- take over: an aborted or replaced version still stopping is never promoted.
local function gated()
  local gate = redis.call('HGET', KEYS[1], name .. '@gate')
  if not gate then return false end
  local g = cjson.decode(gate)
  return not (tonumber(g.version) == version and g.allow == true)
end

if (not active) or active == version or (ARGV[4] == 'promote' and active < version and not gated()) then
  redis.call('HSET', KEYS[1], name, ARGV[3])
  clearPending()
  return { 1, active or 0 }
end
if active > version then return { -1, active } end
-- Only the newest pending version is recorded: a pod of an older pending version still rolling out
-- must not hide a newer one.
local pending = redis.call('HGET', KEYS[1], name .. '@pending')
if (not pending) or tonumber(cjson.decode(pending).activeVersion) <= version then
  redis.call('HSET', KEYS[1], name .. '@pending', ARGV[3])
end
return { 0, active }
